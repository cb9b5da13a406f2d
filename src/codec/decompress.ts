/**
 * Reading compressed layers: what their first bytes show, and a decompressor that reads every
 * gzip member and every zstd frame, counting the input it consumed so bytes after the last
 * member or frame can be told apart.
 */
import * as zlib from 'node:zlib'
import { PassThrough, type Transform } from 'node:stream'
import type { Compression } from '../oci/mediatypes.js'
import { waitDrain } from '../util/streams.js'

export function createDecompressor(c: Compression): Transform {
  switch (c) {
    case 'gzip':
      return zlib.createGunzip({ chunkSize: 256 * 1024 })
    case 'zstd':
      return zlib.createZstdDecompress({ chunkSize: 256 * 1024 })
    case 'none':
      return new PassThrough()
  }
}

/** gzip or zstd as detected; xz, bzip2 and anything else are read as they are (and fail as tar). */
export function readableCompression(head: Buffer): Compression {
  const c = detectCompression(head)
  return c === 'gzip' || c === 'zstd' ? c : 'none'
}

export type DetectedFormat = Compression | 'xz' | 'bzip2'

/**
 * Whether bytes start a zstd frame: a regular one, or a skippable one (0x184D2A50–5F), with which
 * a zstd stream may open (zstd:chunked metadata, seekable-format tables).
 */
export function isZstdFrame(b: Buffer): boolean {
  if (b.length < 4) return false
  const m = b.readUInt32LE(0)
  return m === 0xfd2fb528 || (m & 0xfffffff0) === 0x184d2a50
}

/** The compression a file's first bytes show; anything unrecognised is taken as a plain tar. */
export function detectCompression(head: Buffer): DetectedFormat {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip'
  if (isZstdFrame(head)) return 'zstd'
  if (
    head.length >= 6 &&
    head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0]))
  )
    return 'xz'
  if (head.length >= 3 && head.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2'
  return 'none'
}

/** Node's zlib streams count the input bytes they consumed; @types/node omits it on Transform. */
type CountingDecompressor = Transform & { bytesWritten: number }

/**
 * Decompresses a gzip or zstd stream written chunk by chunk into `sink`, and counts the input
 * bytes the decompressors consumed, so bytes after the last member/frame can be reported. Node's
 * gunzip reads concatenated members itself and silently ignores what follows them; Node's zstd
 * decoder stops after one frame, so a new decoder is started for each further frame
 * (zstd:chunked layers have many) — and what is neither a frame nor a skippable frame is
 * trailing data, at which decoding stops.
 */
export class MultiFrameDecompressor {
  /** blob offset where the current decoder's input starts */
  private start = 0
  /** bytes handed to write() so far */
  private written = 0
  /** chunks written to the current decoder and not yet known to be consumed */
  private pending: Array<{ off: number; buf: Buffer }> = []
  private d: CountingDecompressor | undefined
  /** set when the current zstd decoder stopped at a frame end while input was left */
  private stoppedAt: number | undefined
  /** bytes after a frame end, until there are enough to tell what follows */
  private between: Buffer | undefined
  private error: string | undefined
  private ended: Promise<void> = Promise.resolve()
  /** input bytes consumed by the decompressors, when decoding stopped at trailing data */
  private trailingAt: number | undefined

  /**
   * `sink` takes the decompressed bytes and returns false to ask for a pause, which lasts until
   * `sinkDrain` resolves.
   */
  constructor(
    readonly kind: 'gzip' | 'zstd',
    private readonly sink: (out: Buffer) => boolean,
    private readonly sinkDrain: () => Promise<void>
  ) {
    this.open(0)
  }

  private open(start: number): void {
    this.start = start
    this.stoppedAt = undefined
    const d = createDecompressor(this.kind) as CountingDecompressor
    this.d = d
    d.on('data', (out: Buffer) => {
      if (!this.sink(out)) {
        d.pause()
        void this.sinkDrain().then(() => d.resume())
      }
    })
    this.ended = new Promise(resolve => {
      d.on('end', () => {
        // Input left unconsumed means the zstd decoder stopped at the end of a frame.
        if (this.start + d.bytesWritten < this.written) this.stoppedAt = this.start + d.bytesWritten
        resolve()
      })
      d.on('error', (err: Error) => {
        // A decoder that already stopped at a frame end fails on the input written after it.
        if (this.stoppedAt === undefined) this.error ??= err.message
        resolve()
      })
    })
  }

  /** Input bytes the decompressors consumed: less than was written when trailing bytes follow. */
  get consumed(): number {
    if (this.trailingAt !== undefined) return this.trailingAt
    return this.d ? this.start + this.d.bytesWritten : this.start
  }

  async write(chunk: Buffer): Promise<void> {
    const off = this.written
    this.written += chunk.length
    if (this.error !== undefined || this.trailingAt !== undefined) return
    if (this.between) {
      this.between = Buffer.concat([this.between, chunk])
      this.next(false)
      return
    }
    const d = this.d as CountingDecompressor
    this.pending.push({ off, buf: chunk })
    const done = this.start + d.bytesWritten
    while (this.pending.length && this.pending[0].off + this.pending[0].buf.length <= done)
      this.pending.shift()
    if (!d.write(chunk)) await waitDrain(d)
    if (this.stoppedAt !== undefined) this.frameEnded()
  }

  /** The zstd decoder stopped: collect what it left and decide what follows. */
  private frameEnded(): void {
    const at = this.stoppedAt as number
    this.d?.destroy()
    const rest = this.pending
      .filter(p => p.off + p.buf.length > at)
      .map(p => p.buf.subarray(Math.max(0, at - p.off)))
    this.pending = []
    this.between = Buffer.concat(rest)
    this.start = at
    this.d = undefined
    this.next(false)
  }

  /** Starts a decoder on the bytes after a frame end if they open another frame; else stops. */
  private next(final: boolean): void {
    const b = this.between as Buffer
    if (b.length < 4 && !final) return
    if (this.kind === 'zstd' && isZstdFrame(b)) {
      this.between = undefined
      this.open(this.start)
      const d = this.d as CountingDecompressor
      this.pending.push({ off: this.start, buf: b })
      d.write(b)
    } else {
      this.trailingAt = this.start
      this.between = undefined
    }
  }

  /** Ends the input; resolves to why decompression failed, if it did. */
  async end(): Promise<string | undefined> {
    // Each pass ends one frame's decoder; the guard only bounds a loop that should not happen.
    for (let guard = 0; guard < 1_000_000; guard++) {
      if (this.error !== undefined || this.trailingAt !== undefined) return this.error
      if (this.between) {
        this.next(true)
        continue
      }
      const d = this.d as CountingDecompressor
      if (!d.writableEnded) d.end()
      await this.ended
      if (this.stoppedAt !== undefined) {
        this.frameEnded()
        continue
      }
      return this.error
    }
    return this.error
  }

  destroy(): void {
    this.d?.destroy()
  }
}
