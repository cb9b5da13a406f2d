/**
 * Stage 3: the new layers, built into the staged layout. A line of `layers` is built once and
 * shared by every platform, unless it names the target platform (`${TARGETARCH}`): then once per
 * distinct expansion, platforms whose expansions are equal sharing the layer. Each layer's content
 * is checked as it is written (the validator's checks, handed to the builder), so validating the
 * layout does not read it back.
 */
import * as path from 'node:path'
import { formatPlatform } from '../../oci/platform.js'
import { scanKey } from '../../oci/scan.js'
import type { Platform } from '../../oci/types.js'
import { mapLimited } from '../../util/limit.js'
import { compressionLevel, SharedCompressors } from '../../codec/compress.js'
import type { Layout } from '../../transports/layout.js'
import {
  buildLayer,
  expandForPlatform,
  HashThreads,
  isPerPlatform,
  layerName,
  SlabPool,
  type LayerInput,
  type LayerOptions
} from '../../build/layer/index.js'
import type { NewLayer } from '../../build/assemble.js'
import { layerChecks } from '../../validate/layer/checks.js'
import { reportPath, type Plan } from '../plan.js'
import type { RunContext } from '../context.js'

/**
 * Layers built at once. Each already compresses on every core; a second one overlaps its reading of
 * files with the other's compression, while more would only add memory.
 */
const LAYERS_AT_ONCE = 2

/** The new layers of each image, by its place in the run's list of platforms. */
export interface NewLayers {
  /** Whether any image gets a new layer. */
  any: boolean
  /** The new layers of the image at `index`, in the order of the `layers` input. */
  forImage(index: number): NewLayer[]
}

/** What a run does around the builds: a cache that may hold a layer, and who hears of each one. */
export interface LayerHooks {
  /** The layer taken from elsewhere instead of built, if it can be. */
  reuse?(input: LayerInput, store: Layout, opts: LayerOptions): Promise<NewLayer | undefined>
  /** Told of each layer written into the layout as soon as it is. */
  built?(layer: NewLayer): void
}

/** The threads the run's layers use, shared by them and closed once they are all written. */
export interface LayerThreads {
  compressors: SharedCompressors
  hashing: HashThreads
  close(): Promise<void>
}

/**
 * The run's layer threads, those its first layers will need started now, as the run begins: a
 * thread takes 70-150 ms to start, which the run then spends reading its sources and the cache
 * images rather than with the first layer's walk stopped. With `cache-from` the layers are first
 * only hashed (one thread); else a gzip build compresses on libdeflate's threads from the start.
 */
export function startLayerThreads(plan: Plan): LayerThreads {
  const compressors = new SharedCompressors()
  const hashing = new HashThreads()
  if (plan.layers.length > 0) {
    if (plan.cacheFrom.length > 0) hashing.warm()
    // A gzip level that zlib makes has no threads: warming it starts none.
    else if (plan.compression === 'gzip')
      compressors.warm(compressionLevel('gzip', plan.compressionLevel) as number)
  }
  return {
    compressors,
    hashing,
    close: () => Promise.all([compressors.close(), hashing.close()]).then(() => undefined)
  }
}

/** One layer to build, and which line of `layers` it is for which images. */
interface LayerJob {
  input: LayerInput
  line: number
  images: number[]
}

export async function buildLayers(
  plan: Plan,
  platforms: Platform[],
  layout: Layout,
  ctx: RunContext,
  hooks: LayerHooks,
  /** The run's (startLayerThreads): closed here once the layers are written. */
  threads: LayerThreads
): Promise<NewLayers> {
  const base = path.basename(plan.output)
  // One pool of small-file buffers, and one of compressors, for the run's layers.
  const slabs = new SlabPool()
  const { compressors, hashing } = threads
  const jobs = layerJobs(plan.layers, platforms)
  const built = await mapLimited(jobs, LAYERS_AT_ONCE, async job => {
    const opts: LayerOptions = {
      compression: plan.compression,
      level: plan.compressionLevel,
      mtime: plan.created,
      checks: layerChecks,
      relief: ctx.relief,
      slabs,
      compressors,
      hashThreads: hashing,
      progress: ctx.progress,
      // Never pack Lading's own outputs into a layer built from a directory that holds them.
      exclude: [
        plan.output,
        reportPath(plan.output),
        ...(plan.archive ? [plan.archive] : []),
        path.join(path.dirname(plan.output), `.${base}.lading-*`)
      ]
    }
    const cached = await hooks.reuse?.(job.input, layout, opts)
    if (cached) return cached
    const layer = await buildLayer(job.input, layout, opts)
    if (layer.scan) ctx.scans.set(scanKey(layer.descriptor), Promise.resolve(layer.scan))
    hooks.built?.(layer)
    return layer
  }).finally(() => threads.close())
  const byImage: NewLayer[][] = platforms.map(() => [])
  jobs.forEach((job, i) => {
    const d = built[i].descriptor
    ctx.log.info(`${layerName(job.input)}: ${d.digest} (${d.size} bytes, ${d.mediaType})`)
    for (const img of job.images) byImage[img][job.line] = built[i]
  })
  return { any: jobs.length > 0, forImage: i => byImage[i] }
}

/**
 * The layers to build, in the order of the lines: one per line, or for a line naming the target
 * platform, one per distinct expansion of it.
 */
export function layerJobs(layers: LayerInput[], platforms: Platform[]): LayerJob[] {
  const all = platforms.map((_, i) => i)
  return layers.flatMap((input, line) => {
    if (!isPerPlatform(input)) return [{ input, line, images: all }]
    const byExpansion = new Map<string, LayerJob>()
    platforms.forEach((p, img) => {
      const expanded = expandForPlatform(input, p)
      const key = `${expanded.source}\0${expanded.dest ?? ''}`
      const job = byExpansion.get(key)
      if (job) {
        job.images.push(img)
        job.input.platforms!.push(formatPlatform(p))
      } else
        byExpansion.set(key, {
          input: { ...expanded, platforms: [formatPlatform(p)] },
          line,
          images: [img]
        })
    })
    return [...byExpansion.values()]
  })
}
