import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as https from 'node:https'
import type { AddressInfo } from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import { parseReference } from '../../src/oci/reference.js'
import { pushImage, RegistryError, type PushOptions } from '../../src/registry/index.js'
import { RegistrySource } from '../../src/registry/source.js'
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js'
import { makeImage, requestFor } from '../helpers/push-image.js'
import { haveTool, startRegistry, type TestRegistry } from '../helpers/registry-server.js'
import { remoteDigest, skopeo } from '../helpers/skopeo.js'

// haveTool throws for a missing tool under LADING_TEST_TOOLS=1, so only a local run skips.
const tools = haveTool('docker-registry') && haveTool('skopeo') && haveTool('openssl')
const d = tools ? describe : describe.skip

const fast = { baseDelayMs: 50, maxDelayMs: 500, attempts: 4, maxElapsedMs: 30_000 }

let plain: TestRegistry
let basic: TestRegistry
let proxy: FaultProxy
let basicProxy: FaultProxy
let tmp: string
let tlsServer: https.Server | undefined
let tlsHost = ''
const savedDockerConfig = process.env.DOCKER_CONFIG
const log = () => {}

beforeAll(async () => {
  if (!tools) return
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lading-registry-review-'))
  // No docker config of the machine running the tests may answer for these registries.
  process.env.DOCKER_CONFIG = path.join(tmp, 'no-docker-config')
  ;[plain, basic] = await Promise.all([startRegistry('none'), startRegistry('htpasswd')])
  proxy = await startFaultProxy(plain.host)
  const storageAuth =
    'Basic ' + Buffer.from(`${basic.username}:${basic.password}`).toString('base64')
  basicProxy = await startFaultProxy(basic.host, storageAuth)
  // An HTTPS server with a self-signed certificate, as a private registry often has.
  const key = path.join(tmp, 'key.pem')
  const cert = path.join(tmp, 'cert.pem')
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'].concat([
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1'
    ]),
    { stdio: 'ignore' }
  )
  tlsServer = https.createServer(
    { key: fs.readFileSync(key), cert: fs.readFileSync(cert) },
    (_req, res) => res.end('{}')
  )
  await new Promise<void>(r => tlsServer!.listen(0, '127.0.0.1', () => r()))
  tlsHost = `127.0.0.1:${(tlsServer.address() as AddressInfo).port}`
})

afterAll(async () => {
  if (savedDockerConfig === undefined) delete process.env.DOCKER_CONFIG
  else process.env.DOCKER_CONFIG = savedDockerConfig
  await proxy?.stop()
  await basicProxy?.stop()
  if (tlsServer) {
    tlsServer.closeAllConnections()
    await new Promise(r => tlsServer!.close(r))
  }
  await Promise.all([plain?.stop(), basic?.stop()])
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true })
})

const creds = () => ({ username: basic.username, password: basic.password })

d('registry sources', () => {
  it('a config once read is still a blob: has() answers yes, without asking for a manifest', async () => {
    const img = await makeImage(path.join(tmp, 'has-config'))
    await pushImage(requestFor(img, [parseReference(`${plain.host}/hc/a:1`)]), {})
    const src = await RegistrySource.open(parseReference(`${proxy.host}/hc/a:1`), { retry: fast })
    const manifest = JSON.parse((await src.read(src.root)).toString())
    await src.read(manifest.config)
    const before = proxy.requests.length
    expect(await src.has(manifest.config)).toBe(true)
    expect(await src.has(manifest.layers[0])).toBe(true)
    const asked = proxy.requests.slice(before)
    expect(asked.filter(r => r.path.includes('/manifests/'))).toEqual([])
    expect(asked.filter(r => r.path.includes(manifest.config.digest))).toEqual([])
  })
})

d('redirects', () => {
  it("never answers a storage host's challenge with the registry's credentials", async () => {
    const img = await makeImage(path.join(tmp, 'challenge'))
    await pushImage(requestFor(img, [parseReference(`${basic.host}/ch/a:1`)]), creds())
    const src = await RegistrySource.open(parseReference(`${basicProxy.host}/ch/a:1`), {
      ...creds(),
      retry: fast
    })
    const manifest = JSON.parse((await src.read(src.root)).toString())
    const storage = basicProxy.storageHost
    basicProxy.rules.splice(0, basicProxy.rules.length, {
      method: 'GET',
      path: /\/blobs\/sha256:/,
      times: 1000,
      action: { redirect: 'storage' }
    })
    basicProxy.storageRules.splice(0, basicProxy.storageRules.length, {
      path: /\/blobs\//,
      times: 1000,
      action: {
        status: 401,
        headers: { 'WWW-Authenticate': `Bearer realm="http://${storage}/token",service="s"` }
      }
    })
    const n = basicProxy.storageRequests.length
    let err
    try {
      err = await src.read(manifest.config).catch(e => e)
    } finally {
      basicProxy.rules.length = 0
      basicProxy.storageRules.length = 0
    }
    expect(err).toBeInstanceOf(Error)
    expect(err.message).toContain(`the storage host ${storage} refused`)
    expect(err.message).toContain('does not send registry credentials there')
    const seen = basicProxy.storageRequests.slice(n)
    expect(seen.some(r => r.path.startsWith('/token'))).toBe(false)
    expect(seen.every(r => r.authorization === undefined)).toBe(true)
    // The registry's own Basic challenge still holds: the next read is not sent to that realm.
    const config = await src.read(manifest.config)
    expect(config.length).toBe(manifest.config.size)
  })

  it('fails at once, with a hint, when a TLS handshake cannot succeed', async () => {
    const img = await makeImage(path.join(tmp, 'tls'))
    await pushImage(requestFor(img, [parseReference(`${plain.host}/tls/a:1`)]), {})
    const src = await RegistrySource.open(parseReference(`${proxy.host}/tls/a:1`), {
      retry: fast
    })
    const manifest = JSON.parse((await src.read(src.root)).toString())
    const cases: [string, string][] = [
      [`https://${plain.host}`, 'TLS handshake'], // plain HTTP spoken to with TLS
      [`https://${tlsHost}`, 'is not trusted'] // a self-signed certificate
    ]
    for (const [to, said] of cases) {
      proxy.rules.splice(0, proxy.rules.length, {
        method: 'GET',
        path: /\/blobs\/sha256:/,
        times: 1000,
        action: { redirectTo: to }
      })
      const n = proxy.requests.length
      const err = await src.read(manifest.config).catch(e => e)
      proxy.rules.length = 0
      expect(err.message).toContain(said)
      expect(err.message).toContain(to.replace('https://', ''))
      expect(proxy.requests.slice(n).filter(r => r.fault === 'redirect')).toHaveLength(1)
    }
  })
})

d('credentials of the inputs', () => {
  it('says the inputs are for other registries when one of those asks for credentials', async () => {
    const img = await makeImage(path.join(tmp, 'forother'))
    await pushImage(requestFor(img, [parseReference(`${basic.host}/for/a:1`)]), creds())
    const ref = parseReference(`${basic.host}/for/a:1`)
    const err = await RegistrySource.open(ref, {
      ...creds(),
      credentialsRegistries: ['ghcr.io', 'quay.io'],
      retry: fast
    }).catch(e => e)
    expect(err).toBeInstanceOf(RegistryError)
    expect(err.message).toContain(
      `the username/password inputs are for ghcr.io, quay.io only; log in to ${basic.host} with docker/login-action`
    )
    const none = await RegistrySource.open(ref, { ...creds(), credentialsRegistries: [] }).catch(
      e => e
    )
    expect(none.message).toContain('there are no tags')
    const mine = await RegistrySource.open(ref, {
      ...creds(),
      credentialsRegistries: ['ghcr.io', basic.host]
    })
    expect(mine.root.digest).toBe(img.root.digest)
    // Undefined: the inputs go to every registry, as the CLI has it.
    const all = await RegistrySource.open(ref, creds())
    expect(all.root.digest).toBe(img.root.digest)
  })
})

d('uploads', () => {
  it('resumes from byte 0 when the registry answers Range 0-0 (nothing stored)', async () => {
    const img = await makeImage(path.join(tmp, 'range00'), { layerSizes: [200_000] })
    proxy.rules.splice(0, proxy.rules.length, {
      method: 'PATCH',
      path: /\/blobs\/uploads\//,
      times: 1,
      action: { reset: 'before' }
    })
    const n = proxy.requests.length
    try {
      await pushImage(requestFor(img, [parseReference(`${proxy.host}/r/range00:1`)]), {
        retry: fast,
        chunkSize: 64 * 1024,
        concurrency: 1,
        log
      })
    } finally {
      proxy.rules.length = 0
    }
    const seen = proxy.requests.slice(n)
    const patches = seen.filter(r => r.method === 'PATCH')
    expect(patches[0].fault).toBe('reset')
    expect(patches[1].contentRange).toBe('0-65535')
    expect(patches.every(r => !r.status || r.status === 202)).toBe(true)
    // No upload started over: one POST per blob.
    expect(seen.filter(r => r.method === 'POST')).toHaveLength(img.blobs.length)
    expect(await remoteDigest(plain, `${plain.host}/r/range00:1`)).toBe(img.root.digest)
  })
})

d('mounts', () => {
  async function seedBase(name: string) {
    const dir = path.join(tmp, `base-${name.replace(/\//g, '-')}`)
    const img = await makeImage(dir, { layerSizes: [5000, 60_000] })
    await skopeo([
      'copy',
      '--dest-tls-verify=false',
      `oci:${dir}:latest`,
      `docker://${plain.host}/${name}:1`
    ])
    return img
  }

  it('uploads instead when a mount is refused, and later requests still go through', async () => {
    await seedBase('bases/refused')
    const src = await RegistrySource.open(parseReference(`${proxy.host}/bases/refused:1`), { log })
    const manifest = JSON.parse((await src.read(src.root)).toString())
    const app = await makeImage(path.join(tmp, 'app-refused'), {
      extraLayers: manifest.layers,
      extraReader: src
    })
    proxy.rules.splice(0, proxy.rules.length, {
      method: 'POST',
      path: /mount=/,
      times: 1000,
      action: { status: 403, body: '{"errors":[{"code":"DENIED","message":"no pull"}]}' }
    })
    const n = proxy.requests.length
    let res
    try {
      res = await pushImage(requestFor(app, [parseReference(`${proxy.host}/apps/refused:1`)]), {
        retry: fast,
        log
      })
    } finally {
      proxy.rules.length = 0
    }
    expect(res.mounted).toBe(0)
    expect(res.uploaded).toBe(app.blobs.length)
    expect(proxy.requests.slice(n).filter(r => r.fault === '403').length).toBeGreaterThan(0)
    expect(await remoteDigest(plain, `${plain.host}/apps/refused:1`)).toBe(app.root.digest)
  })

  it('mounts from the origin given with a blob while reading it elsewhere', async () => {
    const base = await seedBase('bases/origin')
    const origin = { registry: proxy.host, repository: 'bases/origin' }
    const req = requestFor(base, [parseReference(`${proxy.host}/apps/origin:1`)])
    req.blobs = req.blobs.map(b => ({ ...b, origin }))
    const n = proxy.requests.length
    const res = await pushImage(req, { log })
    expect(res.mounted).toBe(base.blobs.length)
    expect(res.uploaded).toBe(0)
    const seen = proxy.requests.slice(n)
    expect(
      seen.some(r => r.method === 'PATCH' || (r.method === 'PUT' && r.path.includes('/blobs/')))
    ).toBe(false)
    expect(await remoteDigest(plain, `${plain.host}/apps/origin:1`)).toBe(base.root.digest)
  })
})

d('several targets', () => {
  it('tags no target before every target holds the image', async () => {
    const img = await makeImage(path.join(tmp, 'multi'), {
      platforms: ['linux/amd64', 'linux/arm64']
    })
    const targets = ['multi/a:1', 'multi/b:1'].map(t => parseReference(`${proxy.host}/${t}`))
    proxy.rules.splice(0, proxy.rules.length, {
      method: 'PUT',
      path: /^\/v2\/multi\/b\/manifests\/sha256:/,
      times: 1000,
      action: { status: 400, body: '{"errors":[{"code":"MANIFEST_INVALID","message":"no"}]}' }
    })
    const opts: PushOptions = { retry: fast, log }
    let err
    try {
      err = await pushImage(requestFor(img, targets), opts).catch(e => e)
    } finally {
      proxy.rules.length = 0
    }
    expect(err).toBeInstanceOf(RegistryError)
    const head = await fetch(`http://${plain.host}/v2/multi/a/manifests/1`, { method: 'HEAD' })
    expect(head.status).toBe(404)

    const n = proxy.requests.length
    const res = await pushImage(requestFor(img, targets), opts)
    expect(res.refs).toEqual(targets.map(t => `${t.registry}/${t.repository}:1@${img.root.digest}`))
    const puts = proxy.requests
      .slice(n)
      .map((r, i) => ({ ...r, i }))
      .filter(r => r.method === 'PUT' && r.path.includes('/manifests/'))
    const lastByDigest = Math.max(...puts.filter(r => r.path.includes('sha256:')).map(r => r.i))
    const firstTag = Math.min(...puts.filter(r => r.path.endsWith('/manifests/1')).map(r => r.i))
    expect(lastByDigest).toBeLessThan(firstTag)
    for (const t of ['multi/a:1', 'multi/b:1'])
      expect(await remoteDigest(plain, `${plain.host}/${t}`)).toBe(img.root.digest)
  })
})
