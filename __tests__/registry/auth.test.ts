import { describe, expect, it } from '@jest/globals'
import * as path from 'node:path'
import { parseReference } from '../../src/oci/reference.js'
import { Authenticator, parseChallenge } from '../../src/registry/auth.js'
import { pushImage, RegistryError } from '../../src/registry/index.js'
import { RegistrySource } from '../../src/registry/source.js'
import { LadingError } from '../../src/util/errors.js'
import { openFake, useFakeRegistries } from '../helpers/fake-image.js'
import { makeImage, requestFor } from '../helpers/push-image.js'
import { fast, useRegistries } from '../helpers/registries.js'
import { describeWithTools } from '../helpers/tools.js'

const fake = useFakeRegistries()

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

describe('URLs in messages', () => {
  it("a token server's refusal names its URL without its query", async () => {
    let realm = ''
    const f = await fake(
      (req, res) => {
        if (req.url === '/v2/') {
          res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${realm}",service="fake"` })
          return void res.end()
        }
        res.writeHead(400, { 'Content-Type': 'text/plain' })
        res.end('no')
      },
      { ownV2: true }
    )
    realm = `http://${f.host}/token?sig=s3cr3t`
    const err = await openFake(f).catch(e => e)
    expect(err.message).toContain(`the token server http://${f.host}/token (for ${f.host})`)
    expect(err.message).not.toContain('s3cr3t')
    expect(err.message).not.toContain('service=')
  })
})

describe('credentials over plain HTTP', () => {
  const tokenServer = () =>
    fake((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' })
      res.end('{"token":"from-the-token-server"}')
    })

  const authenticator = (base: string, creds: object) =>
    new Authenticator({
      registry: new URL(base).host,
      base: new URL(base),
      creds: async () => ({ source: 'the test', ...creds }),
      log: () => {},
      deadlineMs: 5000
    })

  it('are refused to an http:// token realm of an HTTPS registry', async () => {
    const ts = await tokenServer()
    for (const creds of [
      { credentials: { username: 'u', password: 'hunter2' } },
      { identityToken: 'refresh-me' }
    ]) {
      const auth = authenticator('https://registry.example/v2/', creds)
      auth.setChallenge(`Bearer realm="http://${ts.host}/token?x=1",service="s"`)
      const err = await auth.header(['repository:r:pull']).catch(e => e)
      expect(err).toBeInstanceOf(LadingError)
      expect(err.message).toContain(
        `registry.example is reached over HTTPS but sends Lading to the token server http://${ts.host}/token over plain HTTP`
      )
      expect(err.message).toContain('the credentials from the test')
    }
    expect(ts.seen).toEqual([])
  })

  it('go to an http:// realm of a registry itself reached over plain HTTP; none go anywhere', async () => {
    const ts = await tokenServer()
    const plain = authenticator('http://127.0.0.1:1/v2/', {
      credentials: { username: 'u', password: 'p' }
    })
    plain.setChallenge(`Bearer realm="http://${ts.host}/token",service="s"`)
    expect(await plain.header(['repository:r:pull'])).toBe('Bearer from-the-token-server')
    expect(ts.seen[0].authorization).toBe('Basic ' + Buffer.from('u:p').toString('base64'))

    const anonymous = authenticator('https://registry.example/v2/', {})
    anonymous.setChallenge(`Bearer realm="http://${ts.host}/token",service="s"`)
    expect(await anonymous.header(['repository:r:pull'])).toBe('Bearer from-the-token-server')
    expect(ts.seen[1].authorization).toBeUndefined()
  })
})

describeWithTools(
  ['docker-registry', 'skopeo', 'htpasswd', 'openssl'],
  'authentication with distribution',
  () => {
    const registries = useRegistries({ token: true })
    describe('credentials', () => {
      it('reports wrong credentials clearly, without the secret and without a retry storm', async () => {
        const img = await makeImage(path.join(registries.tmp, 'wrong'))
        const wrong = 'wrong-' + registries.basic.password
        const n = registries.basicProxy.requests.length
        const mine: string[] = []
        const err = await pushImage(
          requestFor(img, [parseReference(`${registries.basicProxy.host}/w/x:1`)]),
          {
            username: registries.basic.username,
            password: wrong,
            retry: fast,
            log: m => mine.push(m)
          }
        ).catch(e => e)
        expect(err).toBeInstanceOf(RegistryError)
        expect(err.message).toContain(
          `${registries.basicProxy.host} did not accept the credentials`
        )
        expect(err.message).toContain('the username/password inputs')
        const b64 = Buffer.from(`${registries.basic.username}:${wrong}`).toString('base64')
        for (const text of [err.message, err.stack ?? '', ...mine]) {
          expect(text).not.toContain(wrong)
          expect(text).not.toContain(b64)
        }
        // The ping, then at most two tries of the first request.
        expect(registries.basicProxy.requests.length - n).toBeLessThanOrEqual(3)
      })

      it('reports a token server refusal once, without the secret', async () => {
        const img = await makeImage(path.join(registries.tmp, 'wrongtoken'))
        const n = registries.token.tokenServer!.requests.length
        const err = await pushImage(
          requestFor(img, [parseReference(`${registries.token.host}/w/x:1`)]),
          {
            username: registries.token.username,
            password: 'nope-' + registries.token.password,
            retry: fast
          }
        ).catch(e => e)
        expect(err).toBeInstanceOf(RegistryError)
        expect(err.message).toContain(
          'did not accept the credentials from the username/password inputs'
        )
        expect(err.message).not.toContain('nope-')
        expect(registries.token.tokenServer!.requests.length - n).toBe(1)
      })
    })

    describe('logs', () => {
      it('never contain a secret or its base64 form', async () => {
        const logs: string[] = []
        const log = (m: string) => void logs.push(m)
        for (const reg of [registries.basic, registries.token]) {
          const auth = { username: reg.username, password: reg.password, log }
          const img = await makeImage(path.join(registries.tmp, `logs-${reg.auth}`))
          const ref = parseReference(`${reg.host}/logs/a:1`)
          await pushImage(requestFor(img, [ref]), auth)
          const src = await RegistrySource.open(ref, auth)
          await src.read(src.root)
        }
        const all = logs.join('\n')
        expect(all.length).toBeGreaterThan(0)
        for (const reg of [registries.basic, registries.token]) {
          expect(all).not.toContain(reg.password)
          expect(all).not.toContain(
            Buffer.from(`${reg.username}:${reg.password}`).toString('base64')
          )
        }
      })
    })
  }
)
