import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { Readable } from 'node:stream'
import { parseReference } from '../../src/oci/reference.js'
import { pushImage, RegistryError, type PushBlob, type PushOptions } from '../../src/registry/index.js'
import { RegistrySource } from '../../src/registry/source.js'
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js'
import { makeImage, requestFor } from '../helpers/push-image.js'
import { haveTool, startRegistry, type TestRegistry } from '../helpers/registry-server.js'
import { remoteDigest, skopeo, credsArgs } from '../helpers/skopeo.js'

const tools = haveTool('docker-registry') && haveTool('skopeo')
const d = tools ? describe : describe.skip

const fast = { baseDelayMs: 50, maxDelayMs: 2000, attempts: 4, maxElapsedMs: 30_000 }

let plain: TestRegistry
let basic: TestRegistry
let token: TestRegistry
let proxy: FaultProxy
let basicProxy: FaultProxy
let tmp: string
const logs: string[] = []
const log = (m: string) => logs.push(m)

beforeAll(async () => {
  if (!tools) return
  ;[plain, basic, token] = await Promise.all([
    startRegistry('none'),
    startRegistry('htpasswd'),
    startRegistry('token')
  ])
  proxy = await startFaultProxy(plain.host)
  const storageAuth =
    'Basic ' + Buffer.from(`${basic.username}:${basic.password}`).toString('base64')
  basicProxy = await startFaultProxy(basic.host, storageAuth)
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lading-registry-test-'))
})

afterAll(async () => {
  await proxy?.stop()
  await basicProxy?.stop()
  await Promise.all([plain?.stop(), basic?.stop(), token?.stop()])
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true })
})

function since(p: FaultProxy, n: number) {
  return p.requests.slice(n)
}

d('retries', () => {
  it('survives a 503 on a blob upload', async () => {
    const img = await makeImage(path.join(tmp, 'r503'))
    proxy.rules.splice(0, proxy.rules.length, {
      method: 'PUT',
      path: /\/blobs\/uploads\//,
      times: 1,
      action: { status: 503, body: '{"errors":[{"code":"UNAVAILABLE"}]}' }
    })
    const n = proxy.requests.length
    const res = await pushImage(requestFor(img, [parseReference(`${proxy.host}/r/a503:1`)]), {
      retry: fast,
      log
    })
    expect(res.uploaded).toBe(img.blobs.length)
    const seen = since(proxy, n)
    expect(seen.filter(r => r.fault === '503')).toHaveLength(1)
    expect(await remoteDigest(plain, `${plain.host}/r/a503:1`)).toBe(img.root.digest)
  })

  it('waits as long as Retry-After asks after a 429 on a manifest PUT', async () => {
    const img = await makeImage(path.join(tmp, 'r429'))
    proxy.rules.splice(0, proxy.rules.length, {
      method: 'PUT',
      path: /\/manifests\//,
      times: 1,
      action: {
        status: 429,
        headers: { 'Retry-After': '1' },
        body: '{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}'
      }
    })
    const n = proxy.requests.length
    await pushImage(requestFor(img, [parseReference(`${proxy.host}/r/a429:1`)]), {
      retry: fast,
      log
    })
    const puts = since(proxy, n).filter(r => r.method === 'PUT' && r.path.includes('/manifests/'))
    // The root by digest (refused once, then accepted), then its tag.
    expect(puts.map(p => p.status)).toEqual([429, 201, 201])
    expect(puts[1].at - puts[0].at).toBeGreaterThanOrEqual(950)
    expect(await remoteDigest(plain, `${plain.host}/r/a429:1`)).toBe(img.root.digest)
  })

  it('survives connections reset before a request and in the middle of a chunk', async () => {
    const img = await makeImage(path.join(tmp, 'reset'), { layerSizes: [300_000] })
    proxy.rules.splice(
      0,
      proxy.rules.length,
      { method: 'HEAD', path: /\/blobs\//, times: 1, action: { reset: 'before' } },
      {
        method: 'PATCH',
        path: /\/blobs\/uploads\//,
        skip: 1,
        times: 1,
        action: { reset: 'midbody', afterBytes: 10_000 }
      }
    )
    const n = proxy.requests.length
    const res = await pushImage(requestFor(img, [parseReference(`${proxy.host}/r/reset:1`)]), {
      retry: fast,
      chunkSize: 64 * 1024,
      concurrency: 1,
      log
    })
    const seen = since(proxy, n)
    expect(seen.filter(r => r.fault === 'reset')).toHaveLength(1)
    expect(seen.filter(r => r.fault === 'reset-midbody')).toHaveLength(1)
    expect(res.uploaded).toBe(img.blobs.length)
    expect(await remoteDigest(plain, `${plain.host}/r/reset:1`)).toBe(img.root.digest)
    await skopeo([
      'copy',
      '--src-tls-verify=false',
      `docker://${plain.host}/r/reset:1`,
      `oci:${path.join(tmp, 'reset-copy')}:x`
    ])
  })

  it('by default sends a blob of several MiB in one streamed PUT, and sends it again after a reset', async () => {
    const img = await makeImage(path.join(tmp, 'whole'), { layerSizes: [6 * 1024 * 1024] })
    proxy.rules.splice(0, proxy.rules.length, {
      method: 'PUT',
      path: /\/blobs\/uploads\//,
      skip: 1,
      times: 1,
      action: { reset: 'midbody', afterBytes: 1024 * 1024 }
    })
    const n = proxy.requests.length
    const res = await pushImage(requestFor(img, [parseReference(`${proxy.host}/r/whole:1`)]), {
      retry: fast,
      concurrency: 1,
      log
    })
    const seen = since(proxy, n)
    expect(seen.filter(r => r.method === 'PATCH')).toEqual([])
    // The config's PUT, the layer's PUT cut short, and the layer's PUT again in a new upload.
    const uploads = seen.filter(r => r.method === 'PUT' && r.path.includes('/blobs/uploads/'))
    expect(uploads.map(r => r.fault ?? r.status)).toEqual([201, 'reset-midbody', 201])
    expect(res.uploaded).toBe(img.blobs.length)
    expect(await remoteDigest(plain, `${plain.host}/r/whole:1`)).toBe(img.root.digest)
  })

  it('waits for a source that says it ended only after the registry took its last byte', async () => {
    const img = await makeImage(path.join(tmp, 'late-end'), { layerSizes: [300_000] })
    // Every byte at once, then the end 300 ms later: the registry answers in between.
    const late: PushBlob['reader'] = {
      name: 'late',
      has: d => img.store.has(d),
      read: d => img.store.read(d),
      open: async d => {
        const bytes = await img.store.read(d)
        let sent = false
        return new Readable({
          read() {
            if (sent) return
            sent = true
            this.push(bytes)
            setTimeout(() => this.push(null), 300)
          }
        })
      }
    }
    const req = requestFor(img, [parseReference(`${plain.host}/r/late-end:1`)])
    req.blobs = req.blobs.map(b => ({ ...b, reader: late }))
    const res = await pushImage(req, { retry: fast, log })
    expect(res.uploaded).toBe(img.blobs.length)
    expect(await remoteDigest(plain, `${plain.host}/r/late-end:1`)).toBe(img.root.digest)
  })

  it('gives up after bounded attempts, naming the request and the cause', async () => {
    const img = await makeImage(path.join(tmp, 'down'))
    proxy.rules.splice(0, proxy.rules.length, {
      method: 'PUT',
      path: /\/manifests\//,
      times: 1000,
      action: {
        status: 503,
        body: '{"errors":[{"code":"UNAVAILABLE","message":"down for maintenance"}]}'
      }
    })
    const n = proxy.requests.length
    const err = await pushImage(requestFor(img, [parseReference(`${proxy.host}/r/down:1`)]), {
      retry: fast,
      log
    }).catch(e => e)
    proxy.rules.length = 0
    expect(err).toBeInstanceOf(RegistryError)
    // Manifests go by digest first; the tag only once every target holds the image.
    expect(err.message).toContain(`PUT manifest ${proxy.host}/r/down@${img.root.digest}`)
    expect(err.message).toContain('down for maintenance')
    expect(err.message).toContain('4 attempts')
    const puts = since(proxy, n).filter(r => r.method === 'PUT' && r.path.includes('/manifests/'))
    expect(puts).toHaveLength(4)
  })
})

d('credentials', () => {
  it('reports wrong credentials clearly, without the secret and without a retry storm', async () => {
    const img = await makeImage(path.join(tmp, 'wrong'))
    const wrong = 'wrong-' + basic.password
    const n = basicProxy.requests.length
    const mine: string[] = []
    const err = await pushImage(requestFor(img, [parseReference(`${basicProxy.host}/w/x:1`)]), {
      username: basic.username,
      password: wrong,
      retry: fast,
      log: m => mine.push(m)
    }).catch(e => e)
    expect(err).toBeInstanceOf(RegistryError)
    expect(err.message).toContain(`${basicProxy.host} did not accept the credentials`)
    expect(err.message).toContain('the username/password inputs')
    const b64 = Buffer.from(`${basic.username}:${wrong}`).toString('base64')
    for (const text of [err.message, err.stack ?? '', ...mine]) {
      expect(text).not.toContain(wrong)
      expect(text).not.toContain(b64)
    }
    // The ping, then at most two tries of the first request.
    expect(basicProxy.requests.length - n).toBeLessThanOrEqual(3)
  })

  it('reports a token server refusal once, without the secret', async () => {
    const img = await makeImage(path.join(tmp, 'wrongtoken'))
    const n = token.tokenServer!.requests.length
    const err = await pushImage(requestFor(img, [parseReference(`${token.host}/w/x:1`)]), {
      username: token.username,
      password: 'nope-' + token.password,
      retry: fast
    }).catch(e => e)
    expect(err).toBeInstanceOf(RegistryError)
    expect(err.message).toContain(
      'did not accept the credentials from the username/password inputs'
    )
    expect(err.message).not.toContain('nope-')
    expect(token.tokenServer!.requests.length - n).toBe(1)
  })

  it('reads docker config.json auths and credential helpers when no inputs are given', async () => {
    const img = await makeImage(path.join(tmp, 'dockercfg'))
    const cfgDir = path.join(tmp, 'docker-config')
    fs.mkdirSync(cfgDir, { recursive: true })
    const auth = Buffer.from(`${basic.username}:${basic.password}`).toString('base64')
    fs.writeFileSync(
      path.join(cfgDir, 'config.json'),
      JSON.stringify({ auths: { [`http://${basic.host}/v1/`]: { auth } } })
    )
    const saved = { DOCKER_CONFIG: process.env.DOCKER_CONFIG, PATH: process.env.PATH }
    process.env.DOCKER_CONFIG = cfgDir
    try {
      const res = await pushImage(requestFor(img, [parseReference(`${basic.host}/cfg/a:1`)]), {
        log
      })
      expect(res.uploaded).toBe(img.blobs.length)

      // A credential helper, as `credHelpers` names it, answering on stdout.
      const bin = path.join(tmp, 'bin')
      fs.mkdirSync(bin, { recursive: true })
      const helper = path.join(bin, 'docker-credential-ladingtest')
      fs.writeFileSync(
        helper,
        `#!/bin/sh\nread server\n[ "$server" = "${token.host}" ] || { echo "credentials not found"; exit 1; }\n` +
          `echo '{"Username":"${token.username}","Secret":"${token.password}"}'\n`
      )
      fs.chmodSync(helper, 0o755)
      process.env.PATH = `${bin}:${process.env.PATH}`
      fs.writeFileSync(
        path.join(cfgDir, 'config.json'),
        JSON.stringify({ credHelpers: { [token.host]: 'ladingtest' } })
      )
      const viaHelper = await pushImage(
        requestFor(img, [parseReference(`${token.host}/cfg/helper:1`)]),
        { log }
      )
      expect(viaHelper.uploaded).toBe(img.blobs.length)
      expect(await remoteDigest(token, `${token.host}/cfg/helper:1`)).toBe(img.root.digest)
    } finally {
      for (const [k, v] of Object.entries(saved))
        if (v === undefined) delete process.env[k]
        else process.env[k] = v
    }
  })

  it('never sends credentials to another host on a redirect', async () => {
    const img = await makeImage(path.join(tmp, 'redir'))
    await pushImage(requestFor(img, [parseReference(`${basic.host}/redir/a:1`)]), {
      username: basic.username,
      password: basic.password
    })
    basicProxy.rules.splice(0, basicProxy.rules.length, {
      method: 'GET',
      path: /\/blobs\/sha256:/,
      times: 1000,
      action: { redirect: 'storage' }
    })
    try {
      const src = await RegistrySource.open(parseReference(`${basicProxy.host}/redir/a:1`), {
        username: basic.username,
        password: basic.password
      })
      const manifest = JSON.parse((await src.read(src.root)).toString())
      await src.read(manifest.config)
      const layer = manifest.layers[0]
      const chunks: Buffer[] = []
      for await (const c of await src.open(layer)) chunks.push(c as Buffer)
      expect(Buffer.concat(chunks).equals(fs.readFileSync(img.store.path(layer.digest)))).toBe(true)
    } finally {
      basicProxy.rules.length = 0
    }
    const redirected = basicProxy.requests.filter(r => r.fault === 'redirect')
    expect(redirected.length).toBe(2)
    expect(redirected.every(r => r.authorization?.startsWith('Basic '))).toBe(true)
    expect(basicProxy.storageRequests.length).toBe(2)
    expect(basicProxy.storageRequests.every(r => r.authorization === undefined)).toBe(true)
  })
})

d('registry bases', () => {
  /** Puts a base image in a registry with skopeo, so Lading's own push memory plays no part. */
  async function seedBase(reg: TestRegistry, name: string) {
    const img = await makeImage(path.join(tmp, `base-${name}-${reg.auth}`), {
      layerSizes: [5000, 80_000]
    })
    await skopeo([
      'copy',
      '--dest-tls-verify=false',
      ...credsArgs(reg, '--dest-creds'),
      `oci:${path.join(tmp, `base-${name}-${reg.auth}`)}:latest`,
      `docker://${reg.host}/${name}:1`
    ])
    return img
  }

  it('mounts the layers of a base in the same registry, never downloading them', async () => {
    const base = await seedBase(plain, 'bases/mounted')
    const src = await RegistrySource.open(parseReference(`${proxy.host}/bases/mounted:1`), { log })
    expect(src.root.digest).toBe(base.root.digest)
    const manifest = JSON.parse((await src.read(src.root)).toString())
    const app = await makeImage(path.join(tmp, 'app-mounted'), {
      extraLayers: manifest.layers,
      extraReader: src
    })
    const n = proxy.requests.length
    const res = await pushImage(requestFor(app, [parseReference(`${proxy.host}/apps/mounted:1`)]), {
      log
    })
    expect(res.mounted).toBe(manifest.layers.length)
    expect(res.uploaded).toBe(app.blobs.length - manifest.layers.length)
    const seen = since(proxy, n)
    for (const l of manifest.layers) {
      expect(seen.some(r => r.method === 'GET' && r.path.includes(l.digest))).toBe(false)
      expect(
        seen.some(
          r =>
            r.method === 'POST' &&
            r.path.includes(`mount=${encodeURIComponent(l.digest)}`) &&
            r.path.includes('from=bases%2Fmounted') &&
            r.status === 201
        )
      ).toBe(true)
    }
    // The registry's own access log agrees: no layer was read from the base repository.
    for (const l of manifest.layers)
      expect(plain.log()).not.toMatch(new RegExp(`"GET /v2/bases/mounted/blobs/${l.digest}`))
    expect(await remoteDigest(plain, `${plain.host}/apps/mounted:1`)).toBe(app.root.digest)
  })

  it('asks the token server for pull on the mount source with push on the target', async () => {
    const base = await seedBase(token, 'bases/tok')
    const auth = { username: token.username, password: token.password, log }
    const src = await RegistrySource.open(parseReference(`${token.host}/bases/tok:1`), auth)
    const manifest = JSON.parse((await src.read(src.root)).toString())
    expect(manifest.layers).toEqual(
      base.layers.filter(l =>
        manifest.layers.some((m: { digest: string }) => m.digest === l.digest)
      )
    )
    const app = await makeImage(path.join(tmp, 'app-tok'), {
      extraLayers: manifest.layers,
      extraReader: src
    })
    const n = token.tokenServer!.requests.length
    const res = await pushImage(requestFor(app, [parseReference(`${token.host}/apps/tok:1`)]), auth)
    expect(res.mounted).toBe(manifest.layers.length)
    const asked = token.tokenServer!.requests.slice(n).map(r => r.scopes.sort().join(' '))
    expect(asked).toContain('repository:apps/tok:pull,push repository:bases/tok:pull')
    expect(await remoteDigest(token, `${token.host}/apps/tok:1`)).toBe(app.root.digest)
  })

  it('streams the layers of a base in another registry, verified, to the target', async () => {
    const base = await seedBase(plain, 'bases/streamed')
    const src = await RegistrySource.open(parseReference(`${plain.host}/bases/streamed:1`), { log })
    const manifest = JSON.parse((await src.read(src.root)).toString())
    const app = await makeImage(path.join(tmp, 'app-streamed'), {
      extraLayers: manifest.layers,
      extraReader: src
    })
    const opts: PushOptions = {
      username: token.username,
      password: token.password,
      log,
      chunkSize: 32 * 1024
    }
    const res = await pushImage(
      requestFor(app, [parseReference(`${token.host}/apps/streamed:1`)]),
      opts
    )
    expect(res.mounted).toBe(0)
    expect(res.uploaded).toBe(app.blobs.length)
    expect(await remoteDigest(token, `${token.host}/apps/streamed:1`)).toBe(app.root.digest)
    await skopeo([
      'copy',
      '--src-tls-verify=false',
      ...credsArgs(token, '--src-creds'),
      `docker://${token.host}/apps/streamed:1`,
      `oci:${path.join(tmp, 'streamed-copy')}:x`
    ])
    void base
  })
})

d('logs', () => {
  it('never contain a secret or its base64 form', () => {
    const all = logs.join('\n')
    expect(all.length).toBeGreaterThan(0)
    for (const r of [basic, token]) {
      expect(all).not.toContain(r.password)
      expect(all).not.toContain(Buffer.from(`${r.username}:${r.password}`).toString('base64'))
    }
  })
})
