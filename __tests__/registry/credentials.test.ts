import { afterAll, describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { parseReference } from '../../src/oci/reference.js'
import { resolveCredentials } from '../../src/registry/credentials.js'
import { registryError } from '../../src/registry/errors.js'
import { pushImage, RegistryError } from '../../src/registry/index.js'
import { RegistrySource } from '../../src/registry/source.js'
import { makeImage, requestFor } from '../helpers/push-image.js'
import { fast, useRegistries } from '../helpers/registries.js'
import { remoteDigest } from '../helpers/skopeo.js'
import { describeWithTools } from '../helpers/tools.js'

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

describeWithTools(
  ['docker-registry', 'skopeo', 'htpasswd', 'openssl'],
  'credentials for distribution',
  () => {
    const registries = useRegistries({ token: true })
    describe('credentials', () => {
      it('reads docker config.json auths and credential helpers when no inputs are given', async () => {
        const img = await makeImage(path.join(registries.tmp, 'dockercfg'))
        const cfgDir = path.join(registries.tmp, 'docker-config')
        fs.mkdirSync(cfgDir, { recursive: true })
        const auth = Buffer.from(
          `${registries.basic.username}:${registries.basic.password}`
        ).toString('base64')
        fs.writeFileSync(
          path.join(cfgDir, 'config.json'),
          JSON.stringify({ auths: { [`http://${registries.basic.host}/v1/`]: { auth } } })
        )
        const saved = { DOCKER_CONFIG: process.env.DOCKER_CONFIG, PATH: process.env.PATH }
        process.env.DOCKER_CONFIG = cfgDir
        try {
          const res = await pushImage(
            requestFor(img, [parseReference(`${registries.basic.host}/cfg/a:1`)]),
            {
              log: registries.log
            }
          )
          expect(res.uploaded).toBe(img.blobs.length)

          // A credential helper, as `credHelpers` names it, answering on stdout.
          const bin = path.join(registries.tmp, 'bin')
          fs.mkdirSync(bin, { recursive: true })
          const helper = path.join(bin, 'docker-credential-ladingtest')
          fs.writeFileSync(
            helper,
            `#!/bin/sh\nread server\n[ "$server" = "${registries.token.host}" ] || { echo "credentials not found"; exit 1; }\n` +
              `echo '{"Username":"${registries.token.username}","Secret":"${registries.token.password}"}'\n`
          )
          fs.chmodSync(helper, 0o755)
          process.env.PATH = `${bin}:${process.env.PATH}`
          fs.writeFileSync(
            path.join(cfgDir, 'config.json'),
            JSON.stringify({ credHelpers: { [registries.token.host]: 'ladingtest' } })
          )
          const viaHelper = await pushImage(
            requestFor(img, [parseReference(`${registries.token.host}/cfg/helper:1`)]),
            { log: registries.log }
          )
          expect(viaHelper.uploaded).toBe(img.blobs.length)
          expect(
            await remoteDigest(registries.token, `${registries.token.host}/cfg/helper:1`)
          ).toBe(img.root.digest)
        } finally {
          for (const [k, v] of Object.entries(saved))
            if (v === undefined) delete process.env[k]
            else process.env[k] = v
        }
      })
    })

    describe('credentials of the inputs', () => {
      it('says the inputs are for other registries when one of those asks for credentials', async () => {
        const img = await makeImage(path.join(registries.tmp, 'forother'))
        await pushImage(
          requestFor(img, [parseReference(`${registries.basic.host}/for/a:1`)]),
          registries.creds()
        )
        const ref = parseReference(`${registries.basic.host}/for/a:1`)
        const err = await RegistrySource.open(ref, {
          ...registries.creds(),
          credentialsRegistries: ['ghcr.io', 'quay.io'],
          retry: fast
        }).catch(e => e)
        expect(err).toBeInstanceOf(RegistryError)
        expect(err.message).toContain(
          `the username/password inputs are for ghcr.io, quay.io only; log in to ${registries.basic.host} with docker/login-action`
        )
        const none = await RegistrySource.open(ref, {
          ...registries.creds(),
          credentialsRegistries: []
        }).catch(e => e)
        expect(none.message).toContain('there are no tags')
        const mine = await RegistrySource.open(ref, {
          ...registries.creds(),
          credentialsRegistries: ['ghcr.io', registries.basic.host]
        })
        expect(mine.root.digest).toBe(img.root.digest)
        // Undefined: the inputs go to every registry, as the CLI has it.
        const all = await RegistrySource.open(ref, registries.creds())
        expect(all.root.digest).toBe(img.root.digest)
      })
    })
  }
)
