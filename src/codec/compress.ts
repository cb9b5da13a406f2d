import * as zlib from 'node:zlib'
import { availableParallelism } from 'node:os'
import { Transform, type TransformCallback } from 'node:stream'
import { promisify } from 'node:util'
import { LadingError } from '../util/errors.js'
import type { Compression } from '../oci/mediatypes.js'

export type { Compression } from '../oci/mediatypes.js'

export const compressions: readonly Compression[] = ['gzip', 'zstd', 'none']

/** The user-facing `compression` input. */
export function parseCompression(s: string): Compression {
  const v = s.trim().toLowerCase()
  if ((compressions as readonly string[]).includes(v)) return v as Compression
  throw new LadingError(`compression: "${s}" is not one of ${compressions.join(', ')}`)
}

/**
 * gzip's default level is chosen by measurement: `npm run bench` (its levels section) compares
 * levels on the seeded tree; the figures are in bench/results/latest.md.
 */
const levelRange: Record<
  Exclude<Compression, 'none'>,
  { min: number; max: number; def: number }
> = {
  gzip: { min: 0, max: 9, def: 4 },
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

/**
 * zlib writes the build platform into the gzip header's OS byte (3 on Linux, 19 on macOS), which
 * would make the same layer differ by machine. 255 ("unknown") is what Go's gzip writer uses.
 */
const GZIP_OS_UNKNOWN = 0xff

/** Uncompressed bytes per gzip member; fixed, so the output never depends on the machine. */
export const GZIP_BLOCK = 1024 * 1024

const gzipAsync = promisify(zlib.gzip)

function threadPoolSize(): number {
  const n = Number(process.env.UV_THREADPOOL_SIZE)
  return Number.isInteger(n) && n > 0 ? n : 4
}

/**
 * Gzip that compresses fixed 1 MiB blocks as independent gzip members on zlib's thread pool and
 * emits them in order. A gzip file may hold several members (RFC 1952 §2.2) and every layer reader
 * tried accepts them; the gain is using every core, at a cost of well under 1% in size.
 */
export class ParallelGzip extends Transform {
  private parts: Buffer[] = []
  private buffered = 0
  private wroteAny = false
  private readonly inFlight: Array<Promise<Buffer>> = []
  private readonly maxInFlight: number

  constructor(private readonly level: number) {
    super()
    // zlib's async work shares libuv's pool (4 threads by default) with file reads and writes;
    // filling it with compression stalls the reads that feed it.
    this.maxInFlight = Math.max(2, Math.min(availableParallelism() + 1, threadPoolSize() - 1))
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.parts.push(chunk)
    this.buffered += chunk.length
    while (this.buffered >= GZIP_BLOCK) this.submit(this.cut(GZIP_BLOCK))
    this.emitUntil(this.maxInFlight).then(() => cb(), cb)
  }

  override _flush(cb: TransformCallback): void {
    // An empty input still needs one member to be a gzip file.
    if (this.buffered > 0 || !this.wroteAny) this.submit(this.cut(this.buffered))
    this.emitUntil(0).then(() => cb(), cb)
  }

  private cut(n: number): Buffer {
    const all = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.buffered)
    const block = all.subarray(0, n)
    const rest = all.subarray(n)
    this.parts = rest.length ? [rest] : []
    this.buffered = rest.length
    return block
  }

  private submit(block: Buffer): void {
    this.wroteAny = true
    // One output buffer for the member: zlib's default 16 KiB chunks cost a callback each.
    const member = gzipAsync(block, { level: this.level, chunkSize: GZIP_BLOCK })
    // Awaited in order later; this keeps an early failure from counting as unhandled meanwhile.
    member.catch(() => {})
    this.inFlight.push(member)
  }

  private async emitUntil(limit: number): Promise<void> {
    while (this.inFlight.length > limit) {
      const member = await this.inFlight.shift()!
      member[9] = GZIP_OS_UNKNOWN
      this.push(member)
    }
  }
}

/**
 * The stages that compress with `c`, to splice into a pipeline. Deterministic: gzip headers carry
 * no file name, mtime 0 and a fixed OS byte.
 */
export function compressorStages(c: Compression, level?: number): Transform[] {
  const lvl = compressionLevel(c, level)
  switch (c) {
    case 'gzip':
      return [new ParallelGzip(lvl as number)]
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
