/**
 * The pipeline's stages on their own: each given what the stage before would give it, checked on
 * what it gives the next.
 */
import { describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { Layout } from '../../../src/transports/layout.js'
import { openLayout } from '../../../src/transports/layout-image.js'
import { ImageGraph } from '../../../src/oci/graph.js'
import { MediaType } from '../../../src/oci/mediatypes.js'
import type { BlobReader } from '../../../src/oci/blobs.js'
import { makePlan, type Plan } from '../../../src/app/plan.js'
import { withDefaults, type GivenInputs } from '../../../src/app/inputs.js'
import { newRunContext } from '../../../src/app/context.js'
import { openSources, type OpenedSource } from '../../../src/app/stages/open-sources.js'
import { resolvePlatforms, SourceUnreadable } from '../../../src/app/stages/resolve-platforms.js'
import { assembleGraph } from '../../../src/app/stages/assemble.js'
import { stageLayout } from '../../../src/app/stages/stage-layout.js'
import { commitOutput } from '../../../src/app/stages/commit.js'
import { startLayerThreads } from '../../../src/app/stages/build-layers.js'
import { hashThreadsStarted } from '../../../src/build/layer/tree-hash.js'
import { stagingPath } from '../../../src/app/output-dir.js'
import { trackedTempDirs, writeFixtureLayout } from '../../helpers/transports-fixtures.js'

const tmp = trackedTempDirs('lading-stages-')
const quiet = { info: () => {}, warning: () => {} }
/** No new layer for any image. */
const noLayers = { any: false, forImage: () => [] }

function planOf(given: GivenInputs): Plan {
  return makePlan(withDefaults(given), {})
}

/** A two-platform source layout, opened as the first stage opens it. */
async function twoPlatformSource(): Promise<{ dir: string; source: OpenedSource }> {
  const dir = await tmp()
  const imgs = await writeFixtureLayout(dir, [
    { layers: [{ 'a.txt': 'amd' }], gzip: true, architecture: 'amd64' },
    { layers: [{ 'a.txt': 'arm' }], gzip: true, architecture: 'arm64' }
  ])
  // One index over the two, as a multi-platform source.
  const layout = new Layout(dir)
  await layout.init()
  const idx = await layout.writeJSON(
    {
      schemaVersion: 2,
      mediaType: MediaType.ImageIndex,
      manifests: imgs.map((img, i) => ({
        ...img.manifest,
        platform: { os: 'linux', architecture: i === 0 ? 'amd64' : 'arm64' }
      }))
    },
    MediaType.ImageIndex
  )
  await layout.writeIndex([{ mediaType: idx.mediaType, digest: idx.digest, size: idx.size }])
  await layout.finish()
  return { dir, source: { source: await openLayout(dir), line: `oci:${dir}`, verified: true } }
}

describe('open-sources', () => {
  it('turns a source that cannot be opened into a source-unreadable finding', async () => {
    const missing = path.join(await tmp(), 'nothing-here.tar')
    const plan = planOf({ from: `oci-archive:${missing}`, output: path.join(await tmp(), 'o') })
    const { sources, findings } = await openSources(plan, newRunContext(quiet))
    expect(sources).toEqual([])
    expect(findings.map(f => f.rule)).toEqual(['source-unreadable'])
    expect(findings[0].message).toContain(missing)
  })
})

describe('assemble', () => {
  it('keeps a source index whole (its digest) when nothing changes it', async () => {
    const { dir, source } = await twoPlatformSource()
    const plan = planOf({ from: `oci:${dir}`, output: path.join(await tmp(), 'o') })
    const resolution = await resolvePlatforms(plan, [source])
    const stage = new Layout(await tmp())
    await stage.init()
    const a = await assembleGraph(plan, resolution, noLayers, [source], stage)
    expect(a.copiedWhole).toBe(true)
    expect(a.graph.root.digest).toBe(source.source.root.digest)
    // Layers stay in the source until the layout is staged; configs are written.
    const layers = [...a.graph.blobs.values()].filter(
      b => b.descriptor.mediaType === MediaType.LayerGzip
    )
    expect(layers).toHaveLength(2)
    expect(layers.every(b => b.location.kind === 'source')).toBe(true)
  })

  it('rebuilds each platform with a config edit, under a new index', async () => {
    const { dir, source } = await twoPlatformSource()
    const plan = planOf({ from: `oci:${dir}`, env: 'A=1', output: path.join(await tmp(), 'o') })
    const resolution = await resolvePlatforms(plan, [source])
    const stage = new Layout(await tmp())
    await stage.init()
    const a = await assembleGraph(plan, resolution, noLayers, [source], stage)
    expect(a.copiedWhole).toBe(false)
    expect(a.graph.root.mediaType).toBe(MediaType.ImageIndex)
    expect(a.images.map(i => i.platform)).toEqual(['linux/amd64', 'linux/arm64'])
    for (const img of a.images) {
      const config = JSON.parse(
        (
          await stage.read({
            mediaType: MediaType.ImageConfig,
            digest: img.configDigest,
            size: (await fs.stat(stage.path(img.configDigest))).size
          })
        ).toString()
      )
      expect(config.config.Env).toContain('A=1')
    }
    // The index and both manifests are documents of the graph, pushed children first.
    const order = (await a.graph.pushOrder()).map(d => d.descriptor.digest)
    expect(order[order.length - 1]).toBe(a.graph.root.digest)
    expect(order).toHaveLength(3)
  })
})

describe('stage-layout', () => {
  async function assembled(push: boolean) {
    const { dir, source } = await twoPlatformSource()
    const plan = planOf({
      from: `oci:${dir}`,
      env: 'A=1',
      output: path.join(await tmp(), 'o'),
      ...(push ? { tags: '127.0.0.1:1/x:1', push: 'true' } : {})
    })
    const resolution = await resolvePlatforms(plan, [source])
    const stage = new Layout(await tmp())
    await stage.init()
    return {
      plan,
      stage,
      source,
      a: await assembleGraph(plan, resolution, noLayers, [source], stage)
    }
  }

  it('copies every base blob in, so the layout is complete', async () => {
    const { plan, stage, a } = await assembled(false)
    const staged = await stageLayout(plan, a.graph, stage, newRunContext(quiet))
    expect(staged.notDownloaded).toEqual([])
    for (const b of staged.graph.blobs.values()) {
      expect(b.location.kind).toBe('layout')
      expect(await stage.has(b.descriptor)).toBe(true)
    }
    const index = JSON.parse(await fs.readFile(path.join(stage.root, 'index.json'), 'utf8'))
    expect(index.manifests[0].digest).toBe(a.graph.root.digest)
  })

  it('leaves registry layers where they are when pushing', async () => {
    const { plan, stage, a } = await assembled(true)
    // The same graph, its layers said to be in a registry that is never asked for them.
    const registry: BlobReader = {
      name: 'registry',
      origin: { registry: '127.0.0.1:1', repository: 'base' },
      open: () => Promise.reject(new Error('not to be read')),
      read: () => Promise.reject(new Error('not to be read')),
      has: () => Promise.reject(new Error('not to be asked'))
    }
    const blobs = new Map(
      [...a.graph.blobs].map(([d, b]) => [
        d,
        b.location.kind === 'source'
          ? { ...b, location: { kind: 'source' as const, reader: registry, verified: false } }
          : b
      ])
    )
    const graph = new ImageGraph(a.graph.root, a.graph.documents, blobs)
    const staged = await stageLayout(plan, graph, stage, newRunContext(quiet))
    expect(staged.notDownloaded).toHaveLength(2)
  })

  it('says which source could not give a blob', async () => {
    const { plan, stage, a, source } = await assembled(false)
    const layer = [...a.graph.blobs.values()].find(b => b.location.kind === 'source')!
    await fs.rm(source.source.fileOf!(layer.descriptor.digest))
    const err = await stageLayout(plan, a.graph, stage, newRunContext(quiet)).catch(e => e)
    expect(err).toBeInstanceOf(SourceUnreadable)
    expect(err.message).toContain(layer.descriptor.digest)
  })
})

describe('commit', () => {
  it('writes the archive from the staged layout, then swaps it into output', async () => {
    const out = path.join(await tmp(), 'layout')
    const archive = path.join(await tmp(), 'image.tar')
    const plan = planOf({ from: 'scratch', layers: '/etc/hostname', output: out, archive })
    const ctx = newRunContext(quiet)
    const stage = stagingPath(out)
    ctx.temps.track(stage)
    const [img] = await writeFixtureLayout(stage, [{ layers: [{ a: 'a' }] }])
    expect(await commitOutput(plan, stage, ctx)).toBe(archive)
    expect((await fs.stat(archive)).size).toBeGreaterThan(0)
    const index = JSON.parse(await fs.readFile(path.join(out, 'index.json'), 'utf8'))
    expect(index.manifests[0].digest).toBe(img.manifest.digest)
    await expect(fs.access(stage)).rejects.toThrow()
  })
})

describe('build-layers: the threads started as the run begins', () => {
  it('the hashing thread with cache-from, libdeflate threads for gzip without; none else', async () => {
    const dir = await tmp()
    const output = path.join(await tmp(), 'o')
    const base = { from: 'scratch', layers: dir, output }
    const started = async (given: GivenInputs) => {
      const hashed = hashThreadsStarted()
      const threads = startLayerThreads(planOf(given))
      const counts = { hash: hashThreadsStarted() - hashed, gzip: threads.compressors.threads() }
      await threads.close()
      return counts
    }
    expect(await started({ ...base, 'cache-from': `oci:${dir}` })).toEqual({ hash: 1, gzip: 0 })
    const cold = await started(base)
    expect(cold.hash).toBe(0)
    expect(cold.gzip).toBeGreaterThan(0)
    // zstd, a zlib level of gzip, no compression, or no layer at all: no thread of libdeflate's.
    for (const given of [
      { ...base, compression: 'zstd' },
      { ...base, 'compression-level': '2' },
      { ...base, compression: 'none' },
      { from: `oci:${dir}`, output }
    ])
      expect(await started(given)).toEqual({ hash: 0, gzip: 0 })
  })
})
