import { afterAll, describe, expect, it } from '@jest/globals'
import { generateKeyPairSync } from 'node:crypto'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { parseChallenge } from '../../src/registry/auth.js'
import { isLoopback, RegistryClient, sameOrigin } from '../../src/registry/client.js'
import { resolveCredentials } from '../../src/registry/credentials.js'
import { registryError, RetryableError } from '../../src/registry/errors.js'
import {
  backoffDelay,
  defaultRetryPolicy,
  parseRetryAfter,
  withRetry
} from '../../src/registry/retry.js'
import { libtrustKeyId } from '../helpers/token-server.js'

describe('challenges', () => {
  it('parses a bearer challenge with quoted values and commas inside them', () => {
    const c = parseChallenge(
      'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:o/r:pull,push"'
    )
    expect(c).toEqual({
      scheme: 'bearer',
      params: {
        realm: 'https://ghcr.io/token',
        service: 'ghcr.io',
        scope: 'repository:o/r:pull,push'
      }
    })
    expect(parseChallenge('Basic realm="Registry Realm"')?.scheme).toBe('basic')
    expect(parseChallenge(undefined)).toBeUndefined()
  })
})

describe('retries', () => {
  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('3')).toBe(3000)
    const now = Date.parse('2025-01-01T00:00:00Z')
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:10 GMT', now)).toBe(10_000)
    expect(parseRetryAfter('soon')).toBeUndefined()
  })

  it('backs off exponentially with jitter, capped, and never earlier than Retry-After', () => {
    const p = { ...defaultRetryPolicy, baseDelayMs: 100, maxDelayMs: 1000 }
    expect(backoffDelay(1, p, undefined, () => 0)).toBe(50)
    expect(backoffDelay(3, p, undefined, () => 1)).toBe(400)
    expect(backoffDelay(10, p, undefined, () => 1)).toBe(1000)
    expect(backoffDelay(1, p, 5000, () => 1)).toBeGreaterThanOrEqual(5000)
  })

  it('stops after the attempts allowed and names what failed', async () => {
    let calls = 0
    const p = { attempts: 3, maxElapsedMs: 10_000, baseDelayMs: 1, maxDelayMs: 2 }
    const err = await withRetry(
      'GET thing',
      async () => {
        calls++
        throw new RetryableError('503 busy')
      },
      p
    ).catch(e => e)
    expect(calls).toBe(3)
    expect(err.message).toBe('GET thing failed after 3 attempts in 0s: 503 busy')
    let other = 0
    await expect(
      withRetry(
        'GET other',
        async () => {
          other++
          throw new Error('not retryable')
        },
        p
      )
    ).rejects.toThrow('not retryable')
    expect(other).toBe(1)
  })
})

describe('error messages', () => {
  const ctx = {
    registry: 'ghcr.io',
    repository: 'o/r',
    what: 'PUT manifest ghcr.io/o/r:1',
    credentialSource: 'the github-token input'
  }
  it('say which registry refused which credentials, and the GHCR permission', () => {
    const m = registryError(
      401,
      '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
      ctx
    ).message
    expect(m).toContain(
      'PUT manifest ghcr.io/o/r:1 failed: 401 UNAUTHORIZED: authentication required'
    )
    expect(m).toContain('ghcr.io did not accept the credentials from the github-token input')
    expect(m).toContain('packages: write')
    expect(registryError(403, '{"errors":[{"code":"DENIED"}]}', ctx).message).toContain(
      'denied access to ghcr.io/o/r'
    )
    expect(registryError(404, '{"errors":[{"code":"NAME_UNKNOWN"}]}', ctx).message).toContain(
      'does not exist'
    )
    expect(registryError(429, '{"errors":[{"code":"TOOMANYREQUESTS"}]}', ctx, 6).message).toContain(
      'rate-limiting requests (still after 6 attempts)'
    )
    expect(registryError(401, '', { ...ctx, registry: 'quay.io' }).message).not.toContain(
      'packages: write'
    )
  })
})

describe('credentials', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lading-creds-'))
  const env = { DOCKER_CONFIG: dir, PATH: process.env.PATH }
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))
  fs.writeFileSync(
    path.join(dir, 'config.json'),
    JSON.stringify({
      auths: {
        'https://index.docker.io/v1/': { auth: Buffer.from('hubuser:hubpass').toString('base64') },
        'https://ghcr.io': { auth: Buffer.from('cfguser:cfgpass').toString('base64') }
      }
    })
  )

  it('prefers the inputs, then the docker config, then the github token for ghcr.io', async () => {
    const inputs = await resolveCredentials(
      'ghcr.io',
      { username: 'u', password: 'p', githubToken: 't' },
      env
    )
    expect(inputs).toEqual({
      credentials: { username: 'u', password: 'p' },
      source: 'the username/password inputs'
    })
    const cfg = await resolveCredentials('ghcr.io', { githubToken: 't' }, env)
    expect(cfg.credentials).toEqual({ username: 'cfguser', password: 'cfgpass' })
    expect(cfg.source).toContain(path.join(dir, 'config.json'))
    const token = await resolveCredentials(
      'ghcr.io',
      { githubToken: 't' },
      { DOCKER_CONFIG: path.join(dir, 'none') }
    )
    expect(token.credentials?.password).toBe('t')
    expect(token.source).toBe('the github-token input')
    const anon = await resolveCredentials('quay.io', { githubToken: 't' }, env)
    expect(anon.credentials).toBeUndefined()
  })

  it("finds Docker Hub under docker's legacy key and keeps the inputs to their registry", async () => {
    expect((await resolveCredentials('docker.io', {}, env)).credentials?.username).toBe('hubuser')
    const other = await resolveCredentials(
      'docker.io',
      { password: 'p', credentialsRegistries: ['ghcr.io'] },
      env
    )
    expect(other.credentials?.username).toBe('hubuser')
  })
})

describe('docker config order', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lading-creds-order-'))
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))
  // Credential helpers as docker runs them: the server on stdin, JSON on stdout.
  const helper = (name: string, user: string, only?: string) => {
    const file = path.join(dir, `docker-credential-${name}`)
    const guard = only
      ? `[ "$server" = "${only}" ] || { echo "credentials not found"; exit 1; }\n`
      : ''
    fs.writeFileSync(
      file,
      `#!/bin/sh\nread server\n${guard}echo '{"Username":"${user}","Secret":"s-${user}"}'\n`
    )
    fs.chmodSync(file, 0o755)
  }
  helper('store', 'storeuser', 'reg.example')
  helper('perreg', 'helperuser')
  const env = { DOCKER_CONFIG: dir, PATH: `${dir}:${process.env.PATH}` }
  const auth = (u: string) => ({ auth: Buffer.from(`${u}:p`).toString('base64') })

  it('asks credHelpers, then credsStore, then auths, as docker does', async () => {
    fs.writeFileSync(
      path.join(dir, 'config.json'),
      JSON.stringify({
        credsStore: 'store',
        credHelpers: { 'helped.example': 'perreg' },
        auths: {
          'reg.example': auth('authsuser'),
          'helped.example': auth('authsuser'),
          'other.example': auth('otheruser')
        }
      })
    )
    const user = async (r: string) => (await resolveCredentials(r, {}, env)).credentials?.username
    expect(await user('helped.example')).toBe('helperuser')
    expect(await user('reg.example')).toBe('storeuser')
    // The store knows nothing of this one: the auths entry answers.
    expect(await user('other.example')).toBe('otheruser')
  })

  it('offers the inputs to the listed registries only, and says so elsewhere', async () => {
    const opts = { username: 'u', password: 'p', credentialsRegistries: ['a.example', 'b.example'] }
    const none = { DOCKER_CONFIG: path.join(dir, 'none') }
    expect((await resolveCredentials('b.example', opts, none)).credentials?.username).toBe('u')
    const other = await resolveCredentials('c.example', opts, none)
    expect(other.credentials).toBeUndefined()
    expect(other.inputsFor).toEqual(['a.example', 'b.example'])
    const empty = await resolveCredentials(
      'a.example',
      { ...opts, credentialsRegistries: [] },
      none
    )
    expect(empty.credentials).toBeUndefined()
    expect(empty.inputsFor).toEqual([])
    const msg = registryError(401, '', {
      registry: 'c.example',
      what: 'GET x',
      credentialSource: other.source,
      inputsFor: other.inputsFor
    }).message
    expect(msg).toContain(
      'the username/password inputs are for a.example, b.example only; log in to c.example with docker/login-action'
    )
  })
})

describe('hosts', () => {
  it('takes insecure-registries entries written as URLs', () => {
    for (const entry of ['http://vm:5081', 'http://vm:5081/', 'VM:5081', ' vm:5081/v2/ '])
      expect(new RegistryClient('vm:5081', { insecureRegistries: [entry] }).base.href).toBe(
        'http://vm:5081/v2/'
      )
    expect(new RegistryClient('vm:5081', { insecureRegistries: ['vm:5082'] }).base.protocol).toBe(
      'https:'
    )
  })

  it('keeps credentials to the same scheme, host and port', () => {
    const base = new URL('https://reg.example/v2/')
    expect(sameOrigin(base, new URL('https://reg.example/v2/x/blobs/uploads/1'))).toBe(true)
    expect(sameOrigin(base, new URL('http://reg.example/v2/x'))).toBe(false)
    expect(sameOrigin(base, new URL('https://reg.example:8443/v2/x'))).toBe(false)
    expect(sameOrigin(base, new URL('https://storage.example/x'))).toBe(false)
  })

  it('treats loopback names as local', () => {
    expect(isLoopback('127.0.0.1:5000')).toBe(true)
    expect(isLoopback('localhost')).toBe(true)
    expect(isLoopback('[::1]:5000')).toBe(true)
    expect(isLoopback('ghcr.io')).toBe(false)
  })

  it('computes libtrust key ids in 12 groups of 4 base32 characters', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
    const id = libtrustKeyId(publicKey.export({ type: 'spki', format: 'der' }))
    expect(id).toMatch(/^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/)
  })
})
