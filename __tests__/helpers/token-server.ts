import { execFileSync } from 'node:child_process'
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign } from 'node:crypto'
import * as fs from 'node:fs'
import * as http from 'node:http'
import type { AddressInfo } from 'node:net'
import * as path from 'node:path'

/**
 * A bearer-token server for distribution's `auth.token`: ES256 JWTs whose `kid` is the libtrust
 * key id of the signing key, granting what was asked when the Basic credentials are right.
 */
export interface TokenServer {
  realm: string
  service: string
  issuer: string
  /** The certificate file to give the registry as `rootcertbundle`. */
  certFile: string
  /** Every token request seen: scopes asked, and whether credentials were right. */
  requests: { scopes: string[]; authorized: boolean; authorization?: string }[]
  /** Lifetime of the tokens issued from now on. */
  expiresIn: number
  stop(): Promise<void>
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

function base32(data: Buffer): string {
  let bits = 0
  let value = 0
  let out = ''
  for (const byte of data) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31]
  return out
}

/** libtrust's key id: base32 of the first 240 bits of sha256(DER SPKI), in groups of 4. */
export function libtrustKeyId(spkiDer: Buffer): string {
  const b32 = base32(createHash('sha256').update(spkiDer).digest().subarray(0, 30))
  return b32.match(/.{4}/g)!.join(':')
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url')

export async function startTokenServer(
  dir: string,
  users: Record<string, string>,
  service = 'lading-test'
): Promise<TokenServer> {
  const keyFile = path.join(dir, 'token.key')
  const certFile = path.join(dir, 'token.crt')
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      '/CN=lading-test-token'
    ],
    { stdio: 'ignore' }
  )
  const key = createPrivateKey(fs.readFileSync(keyFile))
  const kid = libtrustKeyId(createPublicKey(key).export({ type: 'spki', format: 'der' }))
  const issuer = 'lading-test-issuer'
  const requests: TokenServer['requests'] = []

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    const scopes = url.searchParams
      .getAll('scope')
      .flatMap(s => s.split(' '))
      .filter(Boolean)
    const auth = req.headers.authorization
    let authorized = false
    if (auth?.startsWith('Basic ')) {
      const [u, ...rest] = Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':')
      authorized = users[u] !== undefined && users[u] === rest.join(':')
      if (!authorized) {
        requests.push({ scopes, authorized, authorization: auth })
        res.writeHead(401, { 'Content-Type': 'application/json' })
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }))
        return
      }
    }
    requests.push({ scopes, authorized, authorization: auth })
    // Anonymous callers get a token without access, as a registry with private repositories would.
    const access = authorized
      ? scopes.map(s => {
          const [type, ...mid] = s.split(':')
          const actions = mid.pop() ?? ''
          return { type, name: mid.join(':'), actions: actions.split(',') }
        })
      : []
    const now = Math.floor(Date.now() / 1000)
    const header = { typ: 'JWT', alg: 'ES256', kid }
    const claims = {
      iss: issuer,
      sub: authorized ? 'user' : '',
      aud: url.searchParams.get('service') ?? service,
      exp: now + ts.expiresIn,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(8).toString('hex'),
      access
    }
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`
    const sig = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
    const token = `${input}.${b64url(sig)}`
    res.writeHead(200, { 'Content-Type': 'application/json' })
    res.end(
      JSON.stringify({
        token,
        access_token: token,
        expires_in: ts.expiresIn,
        issued_at: new Date().toISOString()
      })
    )
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  const ts: TokenServer = {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certFile,
    requests,
    expiresIn: 300,
    stop: () =>
      new Promise(resolve => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
  }
  return ts
}
