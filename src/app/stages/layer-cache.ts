/**
 * The layer cache (`cache-from`): images whose layers a new layer may be taken from instead of
 * compressing it again. Each new layer's tar is first only hashed (its diff_id); a cached layer
 * with that diff_id, the wanted media type, and a history entry saying Lading made it from the
 * same input with the same layer format and compression settings, is exactly what a cold build
 * would make: its blob is reused. It stays where it is (mounted or skipped on push) unless the
 * run must write a complete layout, where it is copied with its digest checked and validated in
 * full like any base blob. A cached image that cannot be read is a warning, never a failure.
 */
import type { ImageSource, RegistryOrigin } from '../../oci/blobs.js'
import type { Finding } from '../../oci/finding.js'
import { ImageGraph, MAX_INDEX_DEPTH, documentChildren } from '../../oci/graph.js'
import type { GraphBlob } from '../../oci/graph.js'
import { parseJSONValue } from '../../oci/json.js'
import { layerMediaType } from '../../oci/mediatypes.js'
import type { Descriptor, ImageConfig, Manifest } from '../../oci/types.js'
import { LadingError } from '../../util/errors.js'
import { Slots } from '../../util/limit.js'
import { RegistryError } from '../../registry/errors.js'
import type { BlobSink } from '../../oci/scan.js'
import {
  layerDiffPass,
  layerName,
  type LayerInput,
  type LayerOptions
} from '../../build/layer/index.js'
import type { NewLayer } from '../../build/assemble.js'
import type { Plan } from '../plan.js'
import type { RunContext } from '../context.js'
import { openSource } from '../sources.js'
import { escapedLine, listed } from '../../util/listing.js'

/**
 * Attempts at each request to a cached image's registry. A cache is worth a short wait at most:
 * a registry that cannot be reached (a refused connection, a name that does not resolve) is
 * given up after about a second, not the push's 6 attempts and 10-odd seconds, and the layers
 * are built. A reused blob read later still has a second and third attempt.
 */
const CACHE_ATTEMPTS = 3

/** Documents (manifests, indexes) of one cached image read at most: a cache is worth a bounded look. */
const MAX_CACHE_DOCUMENTS = 256

/** Documents of one cached image read at once. */
const CACHE_READS_AT_ONCE = 8

/** A layer of a cached image, with what its config's history says of it. */
interface Candidate {
  descriptor: Descriptor
  createdBy?: string
  comment?: string
  image: { line: string; source: ImageSource }
}

/** A layer taken from the cache. */
interface Reused {
  /** the cache-from line of the image it was taken from */
  line: string
  source: ImageSource
  /** what the entry checks found in its tar, for when the blob itself is not read */
  findings: Finding[]
}

export class LayerCache {
  private readonly byDiffId = new Map<string, Candidate[]>()
  private readonly reused = new Map<string, Reused>()
  private readonly sources: ImageSource[] = []
  /** The cached images opened, each or with a warning: where they are is known then. */
  private opened: Promise<void> = Promise.resolve()
  /**
   * The cached images' manifests and configs read: under way while the first layers' tars are
   * hashed (a registry's round trips overlap the pass), awaited before any lookup.
   */
  private indexed: Promise<void> = Promise.resolve()

  /**
   * The plan's cache images, opened and read in the background as far as they can be (an image
   * that cannot be read is a warning); none when the plan names none.
   */
  static start(plan: Plan, ctx: RunContext): LayerCache | undefined {
    for (const { line, why } of plan.cacheFromSkipped)
      ctx.log.warning(`cache-from: ${line} is left out: ${why}`)
    if (!plan.cacheFrom.length) return undefined
    const cache = new LayerCache()
    const warn = (line: string, err: unknown, opening = false) => {
      if (!(err instanceof LadingError)) throw err
      // Not there at all: what the first run of a workflow meets, its cache not pushed yet.
      if (opening && err instanceof RegistryError && err.status === 404)
        ctx.log.warning(
          `cache-from: ${line} is not in its registry (${statusAndCodes(err)}), as on a first run: every layer is built; if it should be there, check the reference and the credentials`
        )
      else
        ctx.log.warning(
          `cache-from: ${line} could not be read; no layer is taken from it: ${err.message}`
        )
    }
    const reading: Promise<void>[] = []
    cache.opened = (async () => {
      for (const { line, spec } of plan.cacheFrom) {
        try {
          const retry = { attempts: CACHE_ATTEMPTS }
          const auth = { ...plan.auth, retry, secrets: ctx.secrets, relief: ctx.relief }
          const source = await openSource(spec, line, auth, ctx.temps)
          cache.sources.push(source)
          reading.push(
            cache.index({ line, source }, ctx.log).catch((err: unknown) => warn(line, err))
          )
        } catch (err) {
          warn(line, err, true)
        }
      }
    })()
    cache.indexed = cache.opened.then(() => Promise.all(reading)).then(() => undefined)
    // A failure other than an unreadable image (a bug) reaches the run through the first lookup,
    // the push's start or close.
    cache.indexed.catch(() => undefined)
    return cache
  }

  /**
   * Where the cached images live in registries, once they are open: a push may mount from there.
   */
  async origins(): Promise<RegistryOrigin[]> {
    await this.opened
    return this.sources.flatMap(s => (s.origin ? [s.origin] : []))
  }

  /** The layers taken from the cache so far, each with the line of the image it came from. */
  taken(): Array<{ digest: string; image: string }> {
    return [...this.reused].map(([digest, r]) => ({ digest, image: r.line }))
  }

  /** The cached layer a cold build of `input` would make, if there is one; the tar is only hashed. */
  async reuse(
    input: LayerInput,
    store: BlobSink,
    opts: LayerOptions,
    ctx: RunContext
  ): Promise<NewLayer | undefined> {
    const [pass] = await Promise.all([layerDiffPass(input, store, opts), this.indexed])
    if (!pass) return undefined
    const mediaType = layerMediaType(opts.compression)
    const hit = this.byDiffId
      .get(pass.diffId)
      ?.find(
        c =>
          c.descriptor.mediaType === mediaType &&
          c.createdBy === pass.createdBy &&
          c.comment === pass.comment
      )
    if (!hit) return undefined
    const { digest, size } = hit.descriptor
    const scan = pass.scan({ digest, size, diffId: pass.diffId })
    this.reused.set(digest, {
      line: hit.image.line,
      source: hit.image.source,
      findings: scan.findings
    })
    ctx.log.info(
      `${layerName(input)}: taken from the cache ${hit.image.line} (${digest}), not built`
    )
    const { createdBy, comment, diffId } = pass
    return { descriptor: { mediaType, digest, size }, diffId, createdBy, comment }
  }

  /** The graph with each reused layer read from its cache image rather than the layout. */
  relocate(graph: ImageGraph): ImageGraph {
    if (!this.reused.size) return graph
    const blobs = new Map<string, GraphBlob>()
    for (const [digest, blob] of graph.blobs) {
      const r = this.reused.get(digest)
      blobs.set(
        digest,
        r && blob.location.kind === 'layout'
          ? {
              ...blob,
              location: { kind: 'source', reader: r.source, verified: false },
              origin: r.source.origin
            }
          : blob
      )
    }
    return new ImageGraph(graph.root, graph.documents, blobs)
  }

  /** The content findings of reused layers the validator will not read (left in their registry). */
  findingsOf(notDownloaded: string[]): Finding[] {
    return notDownloaded.flatMap(d => this.reused.get(d)?.findings ?? [])
  }

  async close(): Promise<void> {
    await this.indexed.catch(() => undefined)
    for (const s of this.sources) await s.close?.().catch(() => undefined)
  }

  /**
   * Reads the manifests and configs of a cached image into byDiffId: up to CACHE_READS_AT_ONCE
   * documents at once (a multi-platform image's platforms side by side, as the first layers'
   * tars are hashed), and no more than MAX_CACHE_DOCUMENTS of them, whatever its index holds.
   */
  private async index(image: Candidate['image'], log: RunContext['log']): Promise<void> {
    const { source, line } = image
    const slots = new Slots(CACHE_READS_AT_ONCE)
    const seen = new Set<string>()
    let passedOver = 0
    const read = async (d: Descriptor, what: string): Promise<unknown> =>
      parseJSONValue(await slots.run(() => source.read(d)), `${line}: ${what}`)
    const visit = async (d: Descriptor, depth: number): Promise<void> => {
      if (seen.has(d.digest)) return
      if (seen.size >= MAX_CACHE_DOCUMENTS) {
        passedOver++
        return
      }
      seen.add(d.digest)
      const doc = (await read(d, d.digest)) as Partial<Manifest>
      if (doc.config && Array.isArray(doc.layers)) {
        const config = await read(doc.config, `config ${doc.config.digest}`)
        this.add(image, doc.layers, config as Partial<ImageConfig>)
      } else if (depth < MAX_INDEX_DEPTH)
        await Promise.all(documentChildren(doc).map(c => visit(c, depth + 1)))
    }
    await visit(source.root, 0)
    if (passedOver)
      log.info(
        `cache-from: ${line}: its first ${MAX_CACHE_DOCUMENTS} manifests and indexes were read, ${passedOver} more were not; their layers are not taken`
      )
  }

  /** Layers paired with their diff_ids and with the history entries of non-empty layers. */
  private add(image: Candidate['image'], layers: Descriptor[], config: Partial<ImageConfig>): void {
    const diffIds = config.rootfs?.diff_ids
    if (!Array.isArray(diffIds) || diffIds.length !== layers.length) return
    const history = (config.history ?? []).filter(h => !h.empty_layer)
    // Without one history entry per layer, nothing says who made which layer.
    if (history.length !== layers.length) return
    layers.forEach((descriptor, i) => {
      const list = this.byDiffId.get(diffIds[i]) ?? []
      list.push({
        descriptor,
        createdBy: history[i].created_by,
        comment: history[i].comment,
        image
      })
      this.byDiffId.set(diffIds[i], list)
    })
  }
}

/** `404 NAME_UNKNOWN MANIFEST_UNKNOWN`: the status and the registry's first distinct error codes. */
function statusAndCodes(err: RegistryError): string {
  const codes = [...new Set(err.codes)].map(escapedLine)
  return listed([String(err.status), ...codes], 4, ' ')
}
