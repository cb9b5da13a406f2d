/**
 * The image graph: a root descriptor, the documents below it (indexes and manifests, with their
 * exact bytes) and every other blob they reference (configs, layers, artifact content), each with
 * where it can be read. Sources produce one, the assembly stage makes a new one, and the layout
 * writer, the validator, the archive writer and the pusher consume it. What a run knows of each
 * blob (verified, diff_id, content findings) is kept beside it in a ScanCache, by scan key.
 *
 * `walkGraph` is the one walk of such a graph, whatever holds it: memoized by key (each document
 * visited once however many indexes list it), bounded in depth, and told of cycles.
 */
import type { BlobReader, RegistryOrigin } from './blobs.js'
import { isIndexMediaType, isManifestMediaType } from './mediatypes.js'
import { parseJSON } from './json.js'
import type { Descriptor } from './types.js'

/** Indexes nested deeper than this are not walked: an error, since what is below goes unchecked. */
export const MAX_INDEX_DEPTH = 16

/** An index or a manifest, with the exact bytes its digest names. */
export interface GraphDocument {
  descriptor: Descriptor
  bytes: Buffer
}

/** Where a blob of the graph is read. */
export type BlobLocation =
  /** the layout this run writes (a built layer, a copied base blob, a config) */
  | { kind: 'layout' }
  /**
   * a source, read (and verified) when it is needed; `verified` when the source was validated
   * clean, so its files may be linked without hashing them again
   */
  | { kind: 'source'; reader: BlobReader; verified: boolean }

export interface GraphBlob {
  descriptor: Descriptor
  location: BlobLocation
  /** Where a registry already holds it, so a push to that registry may mount it. */
  origin?: RegistryOrigin
}

export class ImageGraph {
  constructor(
    readonly root: Descriptor,
    readonly documents: ReadonlyMap<string, GraphDocument>,
    readonly blobs: ReadonlyMap<string, GraphBlob>
  ) {}

  /** Indexes and manifests in push order: every child before the index that lists it, root last. */
  async pushOrder(): Promise<GraphDocument[]> {
    const out: GraphDocument[] = []
    await walkGraph(
      this.root,
      descriptors({
        children: d => this.childrenOf(d),
        leave: d => {
          const doc = this.documents.get(d.digest)
          if (doc) out.push(doc)
        }
      })
    )
    return out
  }

  /** The documents an index lists (its manifests and nested indexes) that the graph holds. */
  private childrenOf(d: Descriptor): Descriptor[] {
    const doc = this.documents.get(d.digest)
    if (!doc || !isIndexMediaType(d.mediaType)) return []
    return documentChildren(parseJSON(doc.bytes).value)
  }
}

/** The manifests and indexes an index lists; none for anything else. */
export function documentChildren(doc: unknown): Descriptor[] {
  const manifests = (doc as { manifests?: unknown } | undefined)?.manifests
  if (!Array.isArray(manifests)) return []
  return manifests.filter(
    (m): m is Descriptor =>
      typeof m === 'object' &&
      m !== null &&
      typeof m.digest === 'string' &&
      (isIndexMediaType(m.mediaType) || isManifestMediaType(m.mediaType))
  )
}

export interface WalkPosition {
  /** 0 for the root */
  depth: number
  /** digests of the indexes above, root first */
  ancestors: readonly string[]
}

/** What walkGraph asks of its user; T is whatever it walks (a descriptor, or one with a location). */
export interface GraphVisitor<T> {
  /** The descriptor a node stands for. */
  descriptor(node: T): Descriptor
  /**
   * Visits a node on the way down and returns what to walk below it (an index's entries);
   * nothing for a leaf. Called once per key.
   */
  children?(node: T, at: WalkPosition): T[] | void | Promise<T[] | void>
  /** Called once per key after everything below it was walked: post-order. */
  leave?(node: T, at: WalkPosition): void | Promise<void>
  /** The memo key; the digest unless said otherwise (the validator keys manifests by platform too). */
  key?(node: T, at: WalkPosition): string
  /** An index found inside itself: not walked again. */
  cycle?(node: T, at: WalkPosition): void
  /** An index nested deeper than the limit: not walked. */
  tooDeep?(node: T, at: WalkPosition): void
}

/**
 * Walks the graph below `root` depth first, in the order the indexes list their entries, each key
 * once: an index listing the same child n times, k levels deep, costs n·k visits, not n^k.
 */
export async function walkGraph<T>(
  root: T,
  visitor: GraphVisitor<T>,
  opts: { maxDepth?: number; seen?: Set<string> } = {}
): Promise<void> {
  const maxDepth = opts.maxDepth ?? MAX_INDEX_DEPTH
  // Shared between walks of several roots (a layout's index.json entries) when given.
  const seen = opts.seen ?? new Set<string>()
  const visit = async (node: T, at: WalkPosition): Promise<void> => {
    const d = visitor.descriptor(node)
    if (at.ancestors.includes(d.digest)) {
      visitor.cycle?.(node, at)
      return
    }
    if (at.depth > maxDepth && isIndexMediaType(d.mediaType)) {
      visitor.tooDeep?.(node, at)
      return
    }
    const key = visitor.key?.(node, at) ?? d.digest
    if (seen.has(key)) return
    seen.add(key)
    const children = (await visitor.children?.(node, at)) ?? []
    const below: WalkPosition = { depth: at.depth + 1, ancestors: [...at.ancestors, d.digest] }
    for (const c of children) await visit(c, below)
    await visitor.leave?.(node, at)
  }
  await visit(root, { depth: 0, ancestors: [] })
}

/** A walker over plain descriptors. */
export function descriptors(
  visitor: Omit<GraphVisitor<Descriptor>, 'descriptor'>
): GraphVisitor<Descriptor> {
  return { descriptor: d => d, ...visitor }
}
