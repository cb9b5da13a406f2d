/** What a layer build takes and gives, shared by the directory and the tarball builders. */
import type { HashingStream } from '../../oci/digest.js'
import { layerMediaType, type Compression } from '../../oci/mediatypes.js'
import type { BlobScan, LayerChecks, WrittenLayer } from '../../oci/scan.js'
import type { Descriptor } from '../../oci/types.js'
import type { MemoryRelief } from '../../util/memory.js'
import type { StartProgress } from '../../util/progress.js'
import type { SlabPool } from './slabs.js'
import type { SharedCompressors } from '../../codec/compress.js'
import type { HashThreads } from './tree-hash.js'

export interface LayerOptions {
  compression: Compression
  level?: number
  mtime: Date
  /**
   * Absolute paths never put into a directory layer (the store's root always is one), such as
   * the run's own outputs. An entry ending in '*' matches every path that starts with the rest.
   */
  exclude?: string[]
  /** The validator's checks, run on the tar as it is written or read. */
  checks: LayerChecks
  /** The run's memory relief, told of the Buffers the build leaves behind. */
  relief?: MemoryRelief
  /** The run's pool for small files' bytes; a build given none makes its own. */
  slabs?: SlabPool
  /** The run's compressors, shared by the layers it builds at once; else each makes its own. */
  compressors?: SharedCompressors
  /** The run's hashing thread started ahead of the diff passes; else each starts its own. */
  hashThreads?: HashThreads
  /** Told of the bytes of a long build as they are written (uncompressed tar, or tarball read). */
  progress?: StartProgress
  /** The platform the sources are read on (default: this process's): see modes.ts. */
  platform?: NodeJS.Platform
}

/** LayerOptions with the compression level settled and a slab pool at hand. */
export interface BuildSettings extends LayerOptions {
  level: number | undefined
  slabs: SlabPool
}

export interface BuiltLayer {
  descriptor: Descriptor
  /** sha256 of the uncompressed tar. */
  diffId: string
  /** History text; holds no absolute path so the config stays the same across checkouts. */
  createdBy: string
  /**
   * The validator's findings on the layer's content, found as it was written, so the run need not
   * read it back to validate it.
   */
  scan?: BlobScan
  /** History comment: how the blob was made, so a cache knows a cold build would make it again. */
  comment?: string
}

/** A layer's tar hashed without compressing it: what a layer cache is looked up by. */
export interface DiffPass {
  diffId: string
  createdBy: string
  /** The recipe a blob made from this tar carries (see layerRecipe). */
  comment: string
  /** The entry checks' findings, for the blob the tar is found in. */
  scan(layer: WrittenLayer): BlobScan
}

/**
 * Bumped whenever Lading's bytes for the same tree and settings change (the tar writer, the
 * compressor): a cached layer made by another format is not taken for a cold build's. 3: gzip
 * level 1 is libdeflate with scripts/libdeflate-fast.patch; 4: with its second version (5-byte
 * matches, repeat offsets, fewer positions hashed).
 */
export const LAYER_FORMAT = 4

/** The history comment of a layer Lading builds: its format and compression settings. */
export function layerRecipe(compression: Compression, level: number | undefined): string {
  const how = compression === 'none' ? 'uncompressed' : `${compression} level ${level ?? 'default'}`
  return `lading layer format ${LAYER_FORMAT}: ${how}`
}

/** A built layer from its blob's digest and size and its tar's digest. */
export function builtLayerOf(
  compression: Compression,
  blob: Pick<Descriptor, 'digest' | 'size'>,
  diffId: string,
  createdBy: string
): BuiltLayer {
  return {
    descriptor: { mediaType: layerMediaType(compression), digest: blob.digest, size: blob.size },
    diffId,
    createdBy
  }
}

/** What a HashingStream hashed: a blob's digest and size. */
export function hashed(h: HashingStream): Pick<Descriptor, 'digest' | 'size'> {
  return { digest: h.digest(), size: h.size }
}
