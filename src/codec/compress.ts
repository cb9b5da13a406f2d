import * as zlib from 'node:zlib'
import type { Transform } from 'node:stream'
import { LadingError } from '../util/errors.js'
import type { Compression } from '../oci/mediatypes.js'
import { DeflatePool } from './deflate-wasm.js'
import { ParallelGzip, zlibMembers, type MemberCompressor } from './gzip-members.js'

export type { Compression } from '../oci/mediatypes.js'
export { GZIP_BLOCK } from './gzip-members.js'

export const compressions: readonly Compression[] = ['gzip', 'zstd', 'none']

/** The user-facing `compression` input. */
export function parseCompression(s: string): Compression {
  const v = s.trim().toLowerCase()
  if ((compressions as readonly string[]).includes(v)) return v as Compression
  throw new LadingError(`compression: "${s}" is not one of ${compressions.join(', ')}`)
}

/**
 * gzip's default level is chosen by measurement: `npm run bench` (its levels section) compares
 * levels on the seeded tree; the figures are in bench/results/latest.md. Level 1 is libdeflate's
 * fastest, twice zlib level 4's speed per core for a layer 4% larger than umoci's.
 */
const levelRange: Record<
  Exclude<Compression, 'none'>,
  { min: number; max: number; def: number }
> = {
  gzip: { min: 0, max: 9, def: 1 },
  zstd: { min: 1, max: 22, def: 3 }
}

/**
 * The level to compress with: the given one once checked against what the compressor accepts,
 * else its usual default. A level given with `none` is ignored, since there is nothing to tune.
 */
export function compressionLevel(c: Compression, level?: number | string): number | undefined {
  if (c === 'none') return undefined
  const range = levelRange[c]
  if (level === undefined || level === '') return range.def
  const n = typeof level === 'number' ? level : Number(level.trim())
  if (!Number.isInteger(n) || n < range.min || n > range.max)
    throw new LadingError(
      `compression-level: "${level}" is not valid for ${c}; use a whole number from ${range.min} to ${range.max} (default ${range.def})`
    )
  return n
}

export type GzipCodec = 'libdeflate' | 'zlib'

/**
 * The deflate behind each gzip level (index = level), by measurement on the benchmark's tree
 * (docs/performance.md): libdeflate where it is faster than zlib at that level with a layer no
 * larger, zlib where it is not.
 */
const gzipCodecs: readonly GzipCodec[] = [
  'libdeflate', // level 0 stores: the same size, 3 times as fast
  'libdeflate',
  'zlib', // libdeflate 3% smaller but 7% slower
  'libdeflate',
  'libdeflate',
  'zlib', // libdeflate larger
  'zlib', // libdeflate larger
  'libdeflate',
  'libdeflate',
  'libdeflate'
]

export function gzipCodec(level: number): GzipCodec {
  return gzipCodecs[level] ?? 'zlib'
}

function gzipMembers(level: number): MemberCompressor {
  return gzipCodec(level) === 'libdeflate' ? new DeflatePool(level) : zlibMembers(level)
}

/**
 * The gzip compressors of one run, shared by the layers it compresses at once: one pool of
 * threads (one per core but one, two at most) whatever the number of layers, which on 2 cores is
 * as fast as a pool each and holds one thread's memory less. The run closes it once every layer
 * is written.
 */
export class SharedCompressors {
  private readonly pools = new Map<number, MemberCompressor>()

  /** The members of `level`, for one stream: closing the stream leaves the pool to the run. */
  gzip(level: number): MemberCompressor {
    const shared = this.pool(level)
    return {
      get maxInFlight() {
        return shared.maxInFlight
      },
      member: block => shared.member(block),
      only: shared.only ? block => shared.only!(block) : undefined,
      recipe: shared.recipe ? (r, length) => shared.recipe!(r, length) : undefined,
      recipeBuffer: shared.recipeBuffer ? () => shared.recipeBuffer!() : undefined,
      onlyRecipe: shared.onlyRecipe ? (r, length) => shared.onlyRecipe!(r, length) : undefined,
      close: () => Promise.resolve()
    }
  }

  /**
   * Starts the first thread of `level` now, while the run does its other first things, so that
   * the first blocks do not wait for it. A codec without threads (zlib's levels) starts nothing.
   */
  warm(level: number): void {
    this.pool(level).warm?.()
  }

  /** Threads its pools have started so far (tests tell by it). */
  threads(): number {
    let n = 0
    for (const pool of this.pools.values())
      if (pool instanceof DeflatePool) n += pool.threadsStarted
    return n
  }

  private pool(level: number): MemberCompressor {
    let pool = this.pools.get(level)
    if (!pool) {
      pool = gzipMembers(level)
      this.pools.set(level, pool)
    }
    return pool
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()]
    this.pools.clear()
    await Promise.all(pools.map(p => p.close()))
  }
}

/**
 * The compressor that makes blocks from recipes (MemberCompressor.recipe), where the codec has
 * one: gzip at a libdeflate level. The run's shared one, or else one the caller closes.
 */
export function recipeCompressor(
  c: Compression,
  level: number | undefined,
  shared?: SharedCompressors
): MemberCompressor | undefined {
  if (c !== 'gzip') return undefined
  const lvl = compressionLevel(c, level) as number
  if (gzipCodec(lvl) !== 'libdeflate') return undefined
  return shared ? shared.gzip(lvl) : gzipMembers(lvl)
}

/** How a compressing stage is set up beyond its codec and level. */
export interface CompressorOptions {
  /** Given back input chunks nothing will read again (see ParallelGzip). */
  release?: (chunk: Buffer) => void
  /** The run's compressors, when its layers share them; else the stage has its own. */
  shared?: SharedCompressors
}

/**
 * The stages that compress with `c`, to splice into a pipeline. Deterministic: gzip headers carry
 * no file name, mtime 0 and a fixed OS byte.
 */
export function compressorStages(
  c: Compression,
  level?: number,
  opts: CompressorOptions = {}
): Transform[] {
  const lvl = compressionLevel(c, level)
  switch (c) {
    case 'gzip': {
      const members = opts.shared ? opts.shared.gzip(lvl as number) : gzipMembers(lvl as number)
      return [new ParallelGzip(members, opts.release)]
    }
    case 'zstd':
      return [
        zlib.createZstdCompress({
          chunkSize: 256 * 1024,
          params: {
            [zlib.constants.ZSTD_c_compressionLevel]: lvl as number,
            // Costs little and lets readers detect a damaged blob without knowing its digest.
            [zlib.constants.ZSTD_c_checksumFlag]: 1
          }
        })
      ]
    case 'none':
      return []
  }
}
