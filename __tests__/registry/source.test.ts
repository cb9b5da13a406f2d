import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { parseReference } from '../../src/oci/reference.js'
import type { Descriptor } from '../../src/oci/types.js'
import { pushImage } from '../../src/registry/index.js'
import { RegistrySource } from '../../src/registry/source.js'
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js'
import { makeImage, requestFor } from '../helpers/push-image.js'
import { haveTool, startRegistry, type TestRegistry } from '../helpers/registry-server.js'
import { remoteDigest } from '../helpers/skopeo.js'

// haveTool throws for a missing tool under LADING_TEST_TOOLS=1, so only a local run skips.
const tools = haveTool('docker-registry') && haveTool('skopeo')
const d = tools ? describe : describe.skip

const fast = { baseDelayMs: 50, maxDelayMs: 500, attempts: 4, maxElapsedMs: 30_000 }

let plain: TestRegistry
let basic: TestRegistry
let proxy: FaultProxy
let basicProxy: FaultProxy
let tmp: string
const savedDockerConfig = process.env.DOCKER_CONFIG

beforeAll(async () => {
  if (!tools) return
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lading-registry-redirects-'))
  // No docker config of the machine running the tests may answer for these registries.
  process.env.DOCKER_CONFIG = path.join(tmp, 'no-docker-config')
  ;[plain, basic] = await Promise.all([startRegistry('none'), startRegistry('htpasswd')])
  proxy = await startFaultProxy(plain.host)
  // The storage host has its own way into the registry, as object storage has its signed URLs.
  const storageAuth =
    'Basic ' + Buffer.from(`${basic.username}:${basic.password}`).toString('base64')
  basicProxy = await startFaultProxy(basic.host, storageAuth)
})

afterAll(async () => {
  if (savedDockerConfig === undefined) delete process.env.DOCKER_CONFIG
  else process.env.DOCKER_CONFIG = savedDockerConfig
  await proxy?.stop()
  await basicProxy?.stop()
  await Promise.all([plain?.stop(), basic?.stop()])
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true })
})

const creds = () => ({ username: basic.username, password: basic.password, retry: fast })

d('credentials stay with the registry', () => {
  it('an upload session on another origin gets none, whole or in chunks', async () => {
    for (const [name, chunkSize] of [
      ['whole', undefined],
      ['chunked', 256 * 1024]
    ] as const) {
      const img = await makeImage(path.join(tmp, `upload-${name}`), { layerSizes: [700_000] })
      basicProxy.rules.splice(0, basicProxy.rules.length, {
        method: 'POST',
        path: /\/blobs\/uploads\/$/,
        times: 1000,
        action: { locationTo: 'storage' }
      })
      const n = basicProxy.storageRequests.length
      const ref = `${basicProxy.host}/up/${name}:1`
      try {
        const res = await pushImage(requestFor(img, [parseReference(ref)]), {
          ...creds(),
          chunkSize
        })
        expect(res.uploaded).toBe(img.blobs.length)
      } finally {
        basicProxy.rules.length = 0
      }
      const sent = basicProxy.storageRequests.slice(n)
      const methods = new Set(sent.map(r => r.method))
      expect(methods.has('PUT')).toBe(true)
      if (chunkSize) expect(methods.has('PATCH')).toBe(true)
      expect(sent.every(r => r.authorization === undefined)).toBe(true)
      const pushed = `${basic.host}/up/${name}:1`
      expect(await remoteDigest(basic, pushed)).toBe(img.root.digest)
    }
  })

  it('a manifest redirected to another origin is read without them', async () => {
    const img = await makeImage(path.join(tmp, 'manifest-redirect'))
    await pushImage(requestFor(img, [parseReference(`${basic.host}/mr/a:1`)]), creds())
    basicProxy.rules.splice(0, basicProxy.rules.length, {
      method: 'GET',
      path: /\/manifests\//,
      times: 1000,
      action: { redirect: 'storage' }
    })
    const n = basicProxy.storageRequests.length
    let root: Buffer
    try {
      const src = await RegistrySource.open(parseReference(`${basicProxy.host}/mr/a:1`), creds())
      root = await src.read(src.root)
    } finally {
      basicProxy.rules.length = 0
    }
    expect(root).toEqual(img.manifests.get(img.root.digest)?.bytes)
    const sent = basicProxy.storageRequests.slice(n)
    expect(sent.some(r => r.path.includes('/manifests/'))).toBe(true)
    expect(sent.every(r => r.authorization === undefined)).toBe(true)
  })
})

d('registry sources', () => {
  it('fetch each manifest and config once, whoever reads them', async () => {
    const img = await makeImage(path.join(tmp, 'once'))
    await pushImage(requestFor(img, [parseReference(`${plain.host}/once/a:1`)]), {})
    const n = proxy.requests.length
    const src = await RegistrySource.open(parseReference(`${proxy.host}/once/a:1`), {
      retry: fast
    })
    const manifest = JSON.parse((await src.read(src.root)).toString()) as { config: Descriptor }
    const viaOpen = async () => Buffer.concat(await (await src.open(manifest.config)).toArray())
    const [a, b, c] = await Promise.all([
      src.read(manifest.config),
      viaOpen(),
      src.read(manifest.config)
    ])
    expect(b.equals(a) && c.equals(a)).toBe(true)
    expect(a.length).toBe(manifest.config.size)
    await src.open(src.root)
    const asked = proxy.requests.slice(n)
    expect(asked.filter(r => r.path.includes(manifest.config.digest))).toHaveLength(1)
    expect(asked.filter(r => r.path.includes('/manifests/'))).toHaveLength(1)
  })
})
