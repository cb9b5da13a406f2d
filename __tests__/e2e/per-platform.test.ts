/**
 * One step, several platforms, each from its own artifacts: `${TARGETOS}`/`${TARGETARCH}` in a
 * `layers` line build one layer per distinct expansion (stages/build-layers.ts), each platform's
 * manifest gets its own (stages/assemble.ts); with the platform-scoped annotations, descriptor
 * annotations and the imageid / platform-digests outputs, read back from the layout written.
 */
import { beforeAll, describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { gunzipSync } from 'node:zlib'
import * as tar from 'tar-stream'
import { cli } from '../helpers/cli.js'
import { trackedTempDirs } from '../helpers/transports-fixtures.js'
import { layerJobs } from '../../src/app/stages/build-layers.js'
import { parseLayerSpec } from '../../src/build/layer/index.js'
import { parsePlatform } from '../../src/oci/platform.js'
import type { Descriptor, Index, Manifest } from '../../src/oci/types.js'

const tmpDirs = trackedTempDirs('lading-per-platform-')
let tmp: string
beforeAll(async () => {
  tmp = await tmpDirs()
  for (const arch of ['amd64', 'arm64']) {
    await fs.mkdir(path.join(tmp, 'dist', `linux-${arch}`), { recursive: true })
    await fs.writeFile(path.join(tmp, 'dist', `linux-${arch}`, 'app'), `binary for ${arch}\n`)
  }
  await fs.mkdir(path.join(tmp, 'static'))
  await fs.writeFile(path.join(tmp, 'static', 'index.html'), '<p>same everywhere</p>\n')
  await fs.chmod(path.join(tmp, 'static', 'index.html'), 0o644)
})

async function readJSON<T>(layout: string, d: Descriptor): Promise<T> {
  return JSON.parse(await fs.readFile(blobPath(layout, d), 'utf8')) as T
}

function blobPath(layout: string, d: Descriptor): string {
  return path.join(layout, 'blobs', ...d.digest.split(':'))
}

/** A gzip layer's files, name → content, with the owner and mode of each. */
async function layerFiles(layout: string, d: Descriptor) {
  const bytes = gunzipSync(await fs.readFile(blobPath(layout, d)))
  const out: Record<string, { body: string; uid: number; mode: number }> = {}
  const ex = tar.extract()
  ex.on('entry', (h, stream, next) => {
    const chunks: Buffer[] = []
    stream.on('data', (c: unknown) => {
      chunks.push(c as Buffer)
    })
    stream.on('end', () => {
      if (h.type === 'file')
        out[h.name] = { body: Buffer.concat(chunks).toString(), uid: h.uid!, mode: h.mode! }
      next()
    })
  })
  const done = new Promise<void>((resolve, reject) => {
    ex.on('finish', resolve)
    ex.on('error', reject)
  })
  ex.end(bytes)
  await done
  return out
}

const twoPlatforms = (out: string, ...extra: string[]) => [
  'build',
  '--platforms',
  'linux/amd64,linux/arm64',
  '--layers',
  `${tmp}/static:/srv`,
  '--layers',
  `--chown=65532:65532 --chmod=0755 ${tmp}/dist/\${TARGETOS}-\${TARGETARCH}/app:/app/app`,
  '--created',
  '2024-05-06T07:08:09Z',
  '--output',
  out,
  ...extra
]

describe('per-platform layers', () => {
  it('a two-platform image from per-platform directories has each its own, correct layer', async () => {
    const out = path.join(tmp, 'layout')
    const r = await cli(
      twoPlatforms(
        out,
        '--annotations',
        'manifest[linux/arm64]:org.example.arch=arm',
        '--annotations',
        'manifest-descriptor:org.example.entry=yes',
        '--annotations',
        'index-descriptor:org.example.root=top',
        '--annotations',
        'index:org.example.index=1'
      )
    )
    expect(r.err).not.toMatch(/error/)
    expect(r.code).toBe(0)
    const top = JSON.parse(await fs.readFile(path.join(out, 'index.json'), 'utf8')) as Index
    // index-descriptor: on the layout's descriptor of the root, beside its ref name
    expect(top.manifests[0].annotations).toEqual({
      'org.example.root': 'top',
      'org.opencontainers.image.ref.name': 'latest'
    })
    const index = await readJSON<Index>(out, top.manifests[0])
    expect(index.annotations?.['org.example.index']).toBe('1')
    expect(index.annotations?.['org.example.root']).toBeUndefined()
    const byArch: Record<string, { manifest: Manifest; entry: Descriptor }> = {}
    for (const entry of index.manifests) {
      // manifest-descriptor: on the index's entry, not in the manifest
      expect(entry.annotations).toEqual({ 'org.example.entry': 'yes' })
      byArch[entry.platform!.architecture] = { manifest: await readJSON(out, entry), entry }
    }
    const amd = byArch.amd64.manifest
    const arm = byArch.arm64.manifest
    expect(amd.layers).toHaveLength(2)
    // The shared line is built once; the per-platform one twice, differently.
    expect(amd.layers[0].digest).toBe(arm.layers[0].digest)
    expect(amd.layers[1].digest).not.toBe(arm.layers[1].digest)
    for (const [arch, m] of Object.entries({ amd64: amd, arm64: arm }))
      expect(await layerFiles(out, m.layers[1])).toEqual({
        'app/app': { body: `binary for ${arch}\n`, uid: 65532, mode: 0o755 }
      })
    expect(await layerFiles(out, amd.layers[0])).toEqual({
      'srv/index.html': { body: '<p>same everywhere</p>\n', uid: 0, mode: 0o644 }
    })
    // manifest[linux/arm64]: on arm64's manifest only
    expect(arm.annotations?.['org.example.arch']).toBe('arm')
    expect(amd.annotations?.['org.example.arch']).toBeUndefined()
    expect(arm.annotations?.['org.example.entry']).toBeUndefined()

    // outputs: imageid is the index digest when multi-platform; each platform's manifest digest
    expect(r.out.imageid).toBe(r.out.digest)
    expect(JSON.parse(r.out['platform-digests'])).toEqual({
      'linux/amd64': byArch.amd64.entry.digest,
      'linux/arm64': byArch.arm64.entry.digest
    })
    expect(r.err).toMatch(/== build layers\n[\s\S]*build layers: done in /)
  })

  it('a missing source for one platform is an error naming the platform and the path', async () => {
    await fs.mkdir(path.join(tmp, 'half', 'linux-amd64'), { recursive: true })
    await fs.writeFile(path.join(tmp, 'half', 'linux-amd64', 'app'), 'x')
    const r = await cli([
      'build',
      '--platforms',
      'linux/amd64,linux/arm64',
      '--layers',
      `${tmp}/half/\${TARGETOS}-\${TARGETARCH}/app:/app`,
      '--output',
      path.join(tmp, 'l-half')
    ])
    expect(r.code).toBe(1)
    expect(r.err).toContain(
      `layers: "${tmp}/half/\${TARGETOS}-\${TARGETARCH}/app:/app" for linux/arm64: path "${tmp}/half/linux-arm64/app" does not exist`
    )
  })

  it('an annotation for a platform the image lacks is an error', async () => {
    const r = await cli(
      twoPlatforms(path.join(tmp, 'l-s390x'), '--annotations', 'manifest[linux/s390x]:a=b')
    )
    expect(r.code).toBe(1)
    expect(r.err).toContain(
      'annotations: "manifest[linux/s390x]:a=b" is for linux/s390x, which the image does not have (it has linux/amd64, linux/arm64)'
    )
  })

  it('a single-platform image: imageid is the config digest', async () => {
    const r = await cli([
      'build',
      '--layers',
      `${tmp}/static:/srv`,
      '--output',
      path.join(tmp, 'l-one')
    ])
    expect(r.code).toBe(0)
    expect(r.out.imageid).toBe(r.out['config-digest'])
    expect(JSON.parse(r.out['platform-digests'])).toEqual({ 'linux/amd64': r.out.digest })
  })
})

describe('layerJobs', () => {
  const platforms = ['linux/amd64', 'linux/arm64/v8', 'linux/arm/v7', 'linux/arm/v6'].map(
    parsePlatform
  )

  it('builds a line naming no platform once, and one per distinct expansion otherwise', () => {
    const jobs = layerJobs(
      [
        parseLayerSpec('site:/srv'),
        parseLayerSpec('bin/${TARGETARCH}:/app/${TARGETPLATFORM}'),
        parseLayerSpec('libs/${TARGETOS}:/lib')
      ],
      platforms
    )
    expect(jobs.map(j => [j.line, j.input.source, j.input.dest, j.images])).toEqual([
      [0, 'site', '/srv', [0, 1, 2, 3]],
      [1, 'bin/amd64', '/app/linux/amd64', [0]],
      // arm64's implied v8 is no variant, as buildx's TARGETVARIANT has it
      [1, 'bin/arm64', '/app/linux/arm64', [1]],
      [1, 'bin/arm', '/app/linux/arm/v7', [2]],
      [1, 'bin/arm', '/app/linux/arm/v6', [3]],
      [2, 'libs/linux', '/lib', [0, 1, 2, 3]]
    ])
    expect(jobs[5].input.platforms).toEqual([
      'linux/amd64',
      'linux/arm64/v8',
      'linux/arm/v7',
      'linux/arm/v6'
    ])
  })

  it('refuses a variable it does not know', () => {
    expect(() => parseLayerSpec('bin/${BUILDARCH}:/app')).toThrow(
      /\$\{BUILDARCH\} is not a variable Lading knows/
    )
    expect(() => parseLayerSpec('bin/${TARGETARCH:/app')).toThrow(/is not closed/)
  })
})
