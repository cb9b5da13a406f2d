/**
 * cache-from: a rebuild after a change to one layer takes the unchanged layer from the previous
 * push (never compressed, never uploaded again), and its image is the cold build's, byte for byte.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as os from 'node:os'
import * as path from 'node:path'
import * as crypto from 'node:crypto'
import * as net from 'node:net'
import { cli as runCli } from '../../helpers/cli.js'
import { startRegistry, type TestRegistry } from '../../helpers/registry-server.js'
import { startFaultProxy, type FaultProxy } from '../../helpers/fault-proxy.js'
import { writeBlob } from '../../helpers/transports-fixtures.js'

let tmp: string
let reg: TestRegistry
let proxy: FaultProxy
let big: string
let app: string
const CREATED = '2024-01-02T03:04:05Z'
const cli = (args: string[]) => runCli(args, { HOME: tmp })

type Build = (extra: string[]) => ReturnType<typeof cli>

/** A build of the two layers; `extra` adds tags, cache-from or output. */
const build: Build = extra =>
  cli([
    'build',
    '--layers',
    `${big}:/big`,
    '--layers',
    `${app}:/app`,
    '--created',
    CREATED,
    ...extra
  ])

/**
 * A build (`run`, the two layers by default) pushed to `repo:tag` on the proxy, its layout
 * written to `out` under the temp dir.
 */
const pushed = (ref: string, out: string, extra: string[] = [], run = build) =>
  run([...extra, '--push', '--tags', `${proxy.host}/${ref}`, '--output', path.join(tmp, out)])

/** A build (not pushed) with `--cache-from` the proxy's `ref`, its layout written to `out`. */
const fromCache = (ref: string, out: string, run = build) =>
  run(['--cache-from', `${proxy.host}/${ref}`, '--output', path.join(tmp, out)])

/** The digest of the layer the run built or took from /big. */
const bigLayer = (err: string) => /layer \S+:\/big: (sha256:[0-9a-f]{64})/.exec(err)?.[1]

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'lading-cache-'))
  big = path.join(tmp, 'big')
  app = path.join(tmp, 'app')
  await fs.mkdir(big)
  await fs.mkdir(app)
  for (let i = 0; i < 4; i++)
    await fs.writeFile(path.join(big, `data${i}.bin`), crypto.randomBytes(256 * 1024))
  await fs.writeFile(path.join(app, 'main.js'), 'console.log(1)\n')
  reg = await startRegistry('none')
  proxy = await startFaultProxy(reg.host)
})
afterAll(async () => {
  await proxy?.stop()
  await reg?.stop()
  await fs.rm(tmp, { recursive: true, force: true })
})

describe('cache-from', () => {
  it('reuses the unchanged layer of the previous push: 0 bytes of it uploaded, the cold digest', async () => {
    const first = await pushed('cache/app:latest', 'o1')
    expect(first.code).toBe(0)
    const cachedLayer = bigLayer(first.err)
    expect(cachedLayer).toBeDefined()

    await fs.writeFile(path.join(app, 'main.js'), 'console.log(2)\n')
    const cold = await build(['--output', path.join(tmp, 'cold')])
    expect(cold.code).toBe(0)

    const since = proxy.requests.length
    const warm = await pushed('cache/app:2', 'warm', [
      '--cache-from',
      `${proxy.host}/cache/app:latest`
    ])
    expect(warm.code).toBe(0)
    expect(warm.err).toMatch(/layer \S+:\/big: taken from the cache/)
    expect(bigLayer(warm.err)).toBe(cachedLayer)
    expect(warm.out.digest).toBe(cold.out.digest)
    // Neither uploaded nor downloaded: the registry already holds it.
    const moved = proxy.requests
      .slice(since)
      .filter(r => r.path.includes(cachedLayer!.slice(7)) && r.method !== 'HEAD')
    expect(moved).toEqual([])
    expect(warm.err).not.toMatch(new RegExp(`uploaded ${cachedLayer}`))

    // Pushed to another repository of the registry: mounted, not uploaded.
    const other = await pushed('cache/other:1', 'other', [
      '--cache-from',
      `${proxy.host}/cache/app:latest`
    ])
    expect(other.code).toBe(0)
    expect(other.err).toMatch(new RegExp(`mounted ${cachedLayer}`))
    expect(other.out.digest).toBe(cold.out.digest)
  })

  it('fetches a reused layer into a complete layout when nothing is pushed, and checks it', async () => {
    await pushed('cache/full:1', 'f1')
    await fs.writeFile(path.join(app, 'main.js'), 'console.log(3)\n')
    const cold = await build(['--output', path.join(tmp, 'f-cold')])
    const warm = await fromCache('cache/full:1', 'f-warm')
    expect(warm.code).toBe(0)
    expect(warm.err).toMatch(/taken from the cache/)
    expect(warm.err).toMatch(/copying \S+ sha256:\S+ from/)
    expect(warm.out.digest).toBe(cold.out.digest)
    const layer = bigLayer(warm.err)!
    await fs.access(path.join(tmp, 'f-warm', 'blobs', 'sha256', layer.slice(7)))
  })

  it('warns and builds, taking nothing, when an image opens but its config cannot be read', async () => {
    const first = await pushed('cache/noconfig:1', 'noconfig-first')
    expect(first.code).toBe(0)
    const config = first.out['config-digest']
    expect(config).toMatch(/^sha256:/)
    // The manifest reads; its config answers 404: read while the new layers' tars are hashed.
    proxy.rules.push({
      method: 'GET',
      path: new RegExp(`/v2/cache/noconfig/blobs/${config}$`),
      times: 100,
      action: { status: 404 }
    })
    try {
      const r = await fromCache('cache/noconfig:1', 'noconfig')
      expect(r.code).toBe(0)
      expect(r.err).toMatch(/warning: cache-from: \S+\/cache\/noconfig:1 could not be read/)
      expect(r.err).not.toMatch(/taken from the cache/)
      expect(r.out.digest).toBe(first.out.digest)
      expect(
        proxy.requests.some(q => q.path.endsWith(`/blobs/${config}`) && q.status === 404)
      ).toBe(true)
    } finally {
      proxy.rules.length = 0
    }
  })

  it('gives a registry it cannot reach, or that keeps failing, 3 attempts, then builds', async () => {
    // A port that was just free: nothing listens there, the connection is refused.
    const closed = await new Promise<number>(resolve => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as net.AddressInfo
        srv.close(() => resolve(port))
      })
    })
    proxy.rules.push({
      method: 'GET',
      path: /\/v2\/cache\/busy\/manifests\/1$/,
      times: 100,
      action: { status: 503 }
    })
    try {
      const started = Date.now()
      const r = await build([
        '--cache-from',
        `127.0.0.1:${closed}/cache/gone:1`,
        '--cache-from',
        `${proxy.host}/cache/busy:1`,
        '--output',
        path.join(tmp, 'unreachable')
      ])
      expect(r.code).toBe(0)
      expect(r.err).toMatch(
        new RegExp(
          `warning: cache-from: 127\\.0\\.0\\.1:${closed}/cache/gone:1 could not be read.* after 3 attempts`
        )
      )
      expect(r.err).toMatch(
        /warning: cache-from: \S+\/cache\/busy:1 could not be read.* kept failing \(3 attempts\)/
      )
      const asked = proxy.requests.filter(q => q.path.endsWith('/v2/cache/busy/manifests/1'))
      expect(asked.map(q => q.status)).toEqual([503, 503, 503])
      // Each gives up after about a second of waiting: far from the push's 6 attempts.
      expect(Date.now() - started).toBeLessThan(20_000)
    } finally {
      proxy.rules.length = 0
    }
  })

  it('takes nothing from a layer built with other settings, or from an image that is not there', async () => {
    const level1 = await build([
      '--push',
      '--tags',
      `${proxy.host}/cache/level:1`,
      // Not the default level: a layer made with other settings is not a cold build's.
      '--compression-level',
      '6',
      '--output',
      path.join(tmp, 'level1')
    ])
    expect(level1.code).toBe(0)
    const r = await build([
      '--cache-from',
      `${proxy.host}/cache/level:1`,
      '--cache-from',
      `${proxy.host}/cache/missing:1`,
      '--cache-from',
      `oci:${path.join(tmp, 'no-such-layout')}`,
      '--output',
      path.join(tmp, 'lvl')
    ])
    expect(r.code).toBe(0)
    expect(r.err).not.toMatch(/taken from the cache/)
    expect(r.err).toMatch(
      /warning: cache-from: \S+\/cache\/missing:1 is not in its registry \(404 MANIFEST_UNKNOWN\), as on a first run: every layer is built/
    )
    expect(r.err).toMatch(/warning: cache-from: oci:\S+no-such-layout could not be read/)
  })

  it("takes docker/build-push-action's lines: type=registry,ref= and type=local,src=; warns of type=gha", async () => {
    const first = await pushed('cache/buildx:1', 'bx1')
    expect(first.code).toBe(0)
    const cachedLayer = bigLayer(first.err)
    await fs.writeFile(path.join(app, 'main.js'), 'console.log(4)\n')
    const cold = await build(['--output', path.join(tmp, 'bx-cold')])
    const r = await build([
      '--cache-from',
      'type=gha,scope=main',
      '--cache-from',
      `type=registry,ref=${proxy.host}/cache/buildx:1,mode=max`,
      '--output',
      path.join(tmp, 'bx-warm')
    ])
    expect(r.code).toBe(0)
    expect(r.err).toMatch(
      /warning: cache-from: type=gha,scope=main is left out: type=gha is a BuildKit cache/
    )
    expect(r.err).toMatch(
      new RegExp(
        `taken from the cache type=registry,ref=\\S+/cache/buildx:1,mode=max \\(${cachedLayer}\\)`
      )
    )
    expect(r.out.digest).toBe(cold.out.digest)

    // The layout just written, as buildx's local cache directory names it.
    await fs.writeFile(path.join(app, 'main.js'), 'console.log(5)\n')
    const local = await build([
      '--cache-from',
      `type=local,src=${path.join(tmp, 'bx-warm')}`,
      '--output',
      path.join(tmp, 'bx-local')
    ])
    expect(local.code).toBe(0)
    expect(local.err).toMatch(
      new RegExp(`taken from the cache type=local,src=\\S+ \\(${cachedLayer}\\)`)
    )
  })

  it("takes each platform's own layer of a multi-platform image, naming the platform", async () => {
    for (const arch of ['amd64', 'arm64']) {
      await fs.mkdir(path.join(tmp, 'bin', arch), { recursive: true })
      await fs.writeFile(path.join(tmp, 'bin', arch, 'tool'), crypto.randomBytes(128 * 1024))
    }
    const multi: Build = extra =>
      cli([
        'build',
        '--platforms',
        'linux/amd64,linux/arm64',
        '--layers',
        `${path.join(tmp, 'bin')}/\${TARGETARCH}:/usr/bin`,
        '--layers',
        `${app}:/app`,
        '--created',
        CREATED,
        ...extra
      ])
    const first = await pushed('cache/multi:1', 'm1', [], multi)
    expect(first.code).toBe(0)
    await fs.writeFile(path.join(app, 'main.js'), 'console.log(6)\n')
    const cold = await multi(['--output', path.join(tmp, 'm-cold')])
    const warm = await fromCache('cache/multi:1', 'm-warm', multi)
    expect(warm.code).toBe(0)
    for (const p of ['linux/amd64', 'linux/arm64'])
      expect(warm.err).toMatch(
        new RegExp(`layer \\S+/bin/\\$\\{TARGETARCH\\}:/usr/bin \\(${p}\\): taken from the cache`)
      )
    expect(warm.err).not.toMatch(/layer \S+:\/app: taken from the cache/)
    expect(warm.out.digest).toBe(cold.out.digest)
  })

  it('reads at most 256 documents of a cached image, however many its index lists', async () => {
    // A layout whose one index lists 300 manifests (each its own by an annotation).
    const dir = path.join(tmp, 'wide-cache')
    const put = async (doc: unknown) => {
      const bytes = Buffer.from(JSON.stringify(doc))
      return { digest: await writeBlob(dir, bytes), size: bytes.length }
    }
    const config = await put({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [] }
    })
    const manifests = []
    for (let i = 0; i < 300; i++)
      manifests.push({
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        ...(await put({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
          layers: [],
          annotations: { n: String(i) }
        }))
      })
    const index = await put({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests
    })
    await fs.writeFile(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
    await fs.writeFile(
      path.join(dir, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', ...index }]
      })
    )
    const r = await build(['--cache-from', `oci:${dir}`, '--output', path.join(tmp, 'wide')])
    expect(r.code).toBe(0)
    expect(r.err).toContain(
      `cache-from: oci:${dir}: its first 256 manifests and indexes were read, 45 more were not; their layers are not taken`
    )
  })
})
