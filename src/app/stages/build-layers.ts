/**
 * Stage 3: the new layers, built once into the staged layout and shared by every platform. Each
 * layer's content is checked as it is written (the validator's checks, handed to the builder), so
 * validating the layout does not read it back.
 */
import * as path from 'node:path'
import { scanKey } from '../../oci/scan.js'
import { mapLimited } from '../../util/limit.js'
import type { Layout } from '../../transports/layout.js'
import {
  buildLayer,
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

/** What a run does around the builds: a cache that may hold a layer, and who hears of each one. */
export interface LayerHooks {
  /** The layer taken from elsewhere instead of built, if it can be. */
  reuse?(input: LayerInput, store: Layout, opts: LayerOptions): Promise<NewLayer | undefined>
  /** Told of each layer written into the layout as soon as it is. */
  built?(layer: NewLayer): void
}

export async function buildLayers(
  plan: Plan,
  layout: Layout,
  ctx: RunContext,
  hooks: LayerHooks = {}
): Promise<NewLayer[]> {
  const base = path.basename(plan.output)
  // One pool of small-file buffers for the run's layers.
  const slabs = new SlabPool()
  const built = await mapLimited(plan.layers, LAYERS_AT_ONCE, async l => {
    const opts: LayerOptions = {
      compression: plan.compression,
      level: plan.compressionLevel,
      mtime: plan.created,
      checks: layerChecks,
      relief: ctx.relief,
      slabs,
      // Never pack Lading's own outputs into a layer built from a directory that holds them.
      exclude: [
        plan.output,
        reportPath(plan.output),
        ...(plan.archive ? [plan.archive] : []),
        path.join(path.dirname(plan.output), `.${base}.lading-*`)
      ]
    }
    const cached = await hooks.reuse?.(l, layout, opts)
    if (cached) return cached
    const layer = await buildLayer(l, layout, opts)
    if (layer.scan) ctx.scans.set(scanKey(layer.descriptor), Promise.resolve(layer.scan))
    hooks.built?.(layer)
    return layer
  })
  plan.layers.forEach((l, i) => {
    const d = built[i].descriptor
    ctx.log.info(`layer ${l.spec}: ${d.digest} (${d.size} bytes, ${d.mediaType})`)
  })
  return built
}
