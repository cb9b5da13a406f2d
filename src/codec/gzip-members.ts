import * as zlib from 'node:zlib'
import { availableParallelism } from 'node:os'
import { Transform, type TransformCallback } from 'node:stream'
import { promisify } from 'node:util'
import type { TarRecipe } from './tar-recipe.js'

/** Uncompressed bytes per gzip member; fixed, so the output never depends on the machine. */
export const GZIP_BLOCK = 1024 * 1024

/**
 * zlib writes the build platform into the gzip header's OS byte (3 on Linux, 19 on macOS), which
 * would make the same layer differ by machine. 255 ("unknown") is what Go's gzip writer uses.
 */
export const GZIP_OS_UNKNOWN = 0xff

/** What makes the gzip members of a ParallelGzip, one block at a time, in any order. */
export interface MemberCompressor {
  /** The whole gzip member (header, deflate data, trailer) of one block. */
  member(block: Buffer): Promise<Buffer>
  /**
   * The member of a stream's only block (a layer under GZIP_BLOCK), where making it where it is
   * costs less than handing it on: the same bytes as `member`'s.
   */
  only?(block: Buffer): Promise<Buffer>
  /**
   * Members that may be under way or waiting to be emitted, enough to keep every core busy; read
   * afresh each time, as a pool allows more once it has started more threads.
   */
  readonly maxInFlight: number
  /**
   * The block a recipe makes (tar-recipe.ts), made by the compressor's own threads with its
   * member: for a tar whose files those threads can read themselves. Absent where unsupported.
   */
  recipe?(recipe: TarRecipe, length: number): Promise<RecipeBlock>
  /** A buffer for the next recipe's block (the recipe's `block`); with `recipe`. */
  recipeBuffer?(): ArrayBuffer
  /** A stream's only block as a recipe, made where it costs least (see `only`). */
  onlyRecipe?(recipe: TarRecipe, length: number): Promise<RecipeBlock>
  /** Starts its first thread now, ahead of the first block (a thread takes 70-150 ms to start). */
  warm?(): void
  /** Frees what the compressor holds (threads); called once, when the stream ends or fails. */
  close(): Promise<void>
}

/**
 * A block made from a recipe: its bytes and its gzip member, views of one buffer of the
 * compressor's that `done` gives back once both have been read.
 */
export interface RecipeBlock {
  block: Buffer
  member: Buffer
  done(): void
}

/**
 * Gzip that compresses fixed 1 MiB blocks as independent gzip members, several at once, and
 * emits them in order. A gzip file may hold several members (RFC 1952 §2.2) and every layer
 * reader tried accepts them; the gain is using every core, at a cost of well under 1% in size.
 * The output depends on the bytes and the compressor only: never on chunking or scheduling.
 */
export class ParallelGzip extends Transform {
  private parts: Buffer[] = []
  private buffered = 0
  private wroteAny = false
  private membersClosed = false
  private readonly inFlight: Array<Promise<Buffer>> = []

  /**
   * `release` is given back each chunk that was a whole block on its own, once its member is
   * made: nothing here reads it again, so its owner may fill it anew.
   */
  constructor(
    private readonly members: MemberCompressor,
    private readonly release?: (chunk: Buffer) => void
  ) {
    super()
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    // A chunk that is a whole block is its own member's input, given back once that is made.
    if (this.release && this.buffered === 0 && chunk.length === GZIP_BLOCK)
      this.submit(chunk, this.release)
    else {
      this.parts.push(chunk)
      this.buffered += chunk.length
      while (this.buffered >= GZIP_BLOCK) this.submit(this.cut(GZIP_BLOCK))
    }
    this.emitUntil(this.members.maxInFlight).then(() => cb(), cb)
  }

  override _flush(cb: TransformCallback): void {
    // An empty input still needs one member to be a gzip file.
    if (!this.wroteAny) this.submit(this.cut(this.buffered), undefined, true)
    else if (this.buffered > 0) this.submit(this.cut(this.buffered))
    this.emitUntil(0)
      .then(() => this.close())
      .then(() => cb(), cb)
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.close().then(
      () => cb(err),
      () => cb(err)
    )
  }

  private close(): Promise<void> {
    if (this.membersClosed) return Promise.resolve()
    this.membersClosed = true
    return this.members.close()
  }

  private cut(n: number): Buffer {
    const all = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.buffered)
    const block = all.subarray(0, n)
    const rest = all.subarray(n)
    this.parts = rest.length ? [rest] : []
    this.buffered = rest.length
    return block
  }

  private submit(block: Buffer, release?: (chunk: Buffer) => void, only = false): void {
    this.wroteAny = true
    const member = only && this.members.only ? this.members.only(block) : this.members.member(block)
    // Awaited in order later; this keeps an early failure from counting as unhandled meanwhile.
    member.then(() => release?.(block)).catch(() => {})
    this.inFlight.push(member)
  }

  private async emitUntil(limit: number): Promise<void> {
    while (this.inFlight.length > limit) this.push(await this.inFlight.shift()!)
  }
}

const gzipAsync = promisify(zlib.gzip)

function threadPoolSize(): number {
  const n = Number(process.env.UV_THREADPOOL_SIZE)
  return Number.isInteger(n) && n > 0 ? n : 4
}

/** Members made by Node's zlib on libuv's thread pool. */
export function zlibMembers(level: number): MemberCompressor {
  // zlib's async work shares libuv's pool (4 threads by default) with file reads and writes;
  // filling it with compression stalls the reads that feed it.
  const maxInFlight = Math.max(2, Math.min(availableParallelism() + 1, threadPoolSize() - 1))
  return {
    maxInFlight,
    async member(block) {
      // One output buffer for the member: zlib's default 16 KiB chunks cost a callback each.
      const member = await gzipAsync(block, { level, chunkSize: GZIP_BLOCK })
      member[9] = GZIP_OS_UNKNOWN
      return member
    },
    close: () => Promise.resolve()
  }
}
