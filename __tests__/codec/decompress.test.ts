/**
 * The streaming decompressor read to the end of every zstd frame and gzip member, in chunk sizes
 * that put frame ends inside chunks, and the detection of compression from a blob's first bytes.
 */
import { describe, it, expect } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import * as zlib from 'node:zlib'
import {
  createDecompressor,
  detectCompression,
  isZstdFrame,
  MultiFrameDecompressor,
  readableCompression
} from '../../src/codec/decompress.js'

/** Half random, half repetitive: compressible, yet every byte of it matters. */
function sample(n: number): Buffer {
  const text = Buffer.from('lading '.repeat(Math.ceil(n / 14))).subarray(0, n >> 1)
  return Buffer.concat([randomBytes(n - text.length), text])
}

function skippableFrame(payload: Buffer): Buffer {
  const h = Buffer.alloc(8)
  h.writeUInt32LE(0x184d2a50, 0)
  h.writeUInt32LE(payload.length, 4)
  return Buffer.concat([h, payload])
}

interface Decoded {
  out: Buffer
  error: string | undefined
  consumed: number
}

/** `blob` cut into `size`-byte chunks, but never at `keepWhole`: a chunk runs on over it. */
function chunks(blob: Buffer, size: number, keepWhole?: number): Buffer[] {
  const cuts: number[] = []
  for (let at = size; at < blob.length; at += size) if (at !== keepWhole) cuts.push(at)
  return [0, ...cuts].map((at, i) => blob.subarray(at, cuts[i] ?? blob.length))
}

/** Feeds `blob` in `chunk`-byte writes; `pauseEvery` makes the sink ask for a pause that often. */
async function decode(
  kind: 'gzip' | 'zstd',
  blob: Buffer,
  chunk: number,
  pauseEvery = 0,
  keepWhole?: number
): Promise<Decoded> {
  const parts: Buffer[] = []
  const d = new MultiFrameDecompressor(
    kind,
    out => {
      parts.push(out)
      return pauseEvery === 0 || parts.length % pauseEvery !== 0
    },
    () => new Promise(resolve => setImmediate(resolve))
  )
  for (const c of chunks(blob, chunk, keepWhole)) await d.write(c)
  const error = await d.end()
  return { out: Buffer.concat(parts), error, consumed: d.consumed }
}

const CHUNKS = [1, 3, 4096, 1 << 20]

describe('MultiFrameDecompressor', () => {
  it.each(CHUNKS)(
    'reads every zstd frame and skippable frame to the end (chunks of %i)',
    async n => {
      const data = sample(60_000)
      const blob = Buffer.concat([
        zlib.zstdCompressSync(data.subarray(0, 20_000)),
        skippableFrame(Buffer.from('table of contents')),
        zlib.zstdCompressSync(data.subarray(20_000, 20_001)),
        zlib.zstdCompressSync(data.subarray(20_001))
      ])
      const r = await decode('zstd', blob, n)
      expect(r.error).toBeUndefined()
      expect(r.out.equals(data)).toBe(true)
      expect(r.consumed).toBe(blob.length)
    }
  )

  it.each(CHUNKS)('reads concatenated gzip members to the end (chunks of %i)', async n => {
    const data = sample(40_000)
    const members = [data.subarray(0, 1000), data.subarray(1000, 1000), data.subarray(1000)]
    const blob = Buffer.concat(members.map(m => zlib.gzipSync(m)))
    const r = await decode('gzip', blob, n)
    expect(r.error).toBeUndefined()
    expect(r.out.equals(data)).toBe(true)
    expect(r.consumed).toBe(blob.length)
  })

  it.each(CHUNKS)('stops at bytes that are not another zstd frame (chunks of %i)', async n => {
    const data = sample(30_000)
    const frames = Buffer.concat([
      zlib.zstdCompressSync(data.subarray(0, 10_000)),
      zlib.zstdCompressSync(data.subarray(10_000))
    ])
    const blob = Buffer.concat([frames, Buffer.from('not a frame')])
    const r = await decode('zstd', blob, n, 0, frames.length)
    expect(r.error).toBeUndefined()
    expect(r.out.equals(data)).toBe(true)
    expect(r.consumed).toBe(frames.length)
  })

  it('fails, or stops, at bytes after a frame that ends exactly at a chunk end', async () => {
    // Node's decoder reads on into the next chunk before it reports the frame's end, and fails
    // on what is not a frame: either way the stream is not taken as whole.
    const data = sample(30_000)
    const frame = zlib.zstdCompressSync(data)
    const r = await decode('zstd', Buffer.concat([frame, Buffer.from('not a frame')]), 1)
    if (r.error === undefined) expect(r.consumed).toBe(frame.length)
    else expect(r.error).toMatch(/Unknown frame descriptor/)
  })

  it.each(CHUNKS)(
    'counts zero bytes after gzip members as not consumed (chunks of %i)',
    async n => {
      const data = sample(20_000)
      const gz = Buffer.concat([
        zlib.gzipSync(data.subarray(0, 7)),
        zlib.gzipSync(data.subarray(7))
      ])
      const r = await decode('gzip', Buffer.concat([gz, Buffer.alloc(1024)]), n)
      expect(r.error).toBeUndefined()
      expect(r.out.equals(data)).toBe(true)
      expect(r.consumed).toBe(gz.length)
    }
  )

  it('waits while the sink asks for a pause and still delivers every byte', async () => {
    const data = sample(3_000_000)
    const blob = Buffer.concat([
      zlib.zstdCompressSync(data.subarray(0, 1_000_000)),
      zlib.zstdCompressSync(data.subarray(1_000_000))
    ])
    const r = await decode('zstd', blob, 65536, 2)
    expect(r.out.equals(data)).toBe(true)
    expect(r.consumed).toBe(blob.length)
  })

  it.each(['gzip', 'zstd'] as const)('says why a corrupt %s stream fails', async kind => {
    const data = sample(50_000)
    // Both with a checksum, so a flipped byte fails even inside a block stored uncompressed.
    const zstdChecked = { params: { [zlib.constants.ZSTD_c_checksumFlag]: 1 } }
    const blob = Buffer.from(
      kind === 'gzip' ? zlib.gzipSync(data) : zlib.zstdCompressSync(data, zstdChecked)
    )
    blob[Math.floor(blob.length / 2)] ^= 0xff
    const r = await decode(kind, blob, 4096)
    expect(typeof r.error).toBe('string')
    expect(r.error).not.toBe('')
  })
})

describe('compression detection', () => {
  const data = sample(1000)
  it('tells gzip, zstd (regular or skippable frame), xz, bzip2 and the rest apart', () => {
    expect(detectCompression(zlib.gzipSync(data))).toBe('gzip')
    expect(detectCompression(zlib.zstdCompressSync(data))).toBe('zstd')
    expect(detectCompression(skippableFrame(data))).toBe('zstd')
    expect(detectCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0, 1]))).toBe('xz')
    expect(detectCompression(Buffer.from('BZh91AY'))).toBe('bzip2')
    expect(detectCompression(Buffer.from('ustar'))).toBe('none')
    expect(detectCompression(Buffer.alloc(0))).toBe('none')
  })

  it('reads only gzip and zstd as compressed', () => {
    expect(readableCompression(zlib.gzipSync(data))).toBe('gzip')
    expect(readableCompression(zlib.zstdCompressSync(data))).toBe('zstd')
    expect(readableCompression(Buffer.from('BZh91AY'))).toBe('none')
    expect(readableCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0]))).toBe('none')
  })

  it('needs four bytes to see a zstd frame', () => {
    const frame = zlib.zstdCompressSync(data)
    expect(isZstdFrame(frame.subarray(0, 4))).toBe(true)
    expect(isZstdFrame(frame.subarray(0, 3))).toBe(false)
  })

  it('decompresses with createDecompressor what zlib compressed', async () => {
    for (const kind of ['gzip', 'zstd', 'none'] as const) {
      const blob =
        kind === 'gzip' ? zlib.gzipSync(data) : kind === 'zstd' ? zlib.zstdCompressSync(data) : data
      const d = createDecompressor(kind)
      const parts: Buffer[] = []
      d.on('data', (b: Buffer) => parts.push(b))
      const ended = new Promise(resolve => d.on('end', resolve))
      d.end(blob)
      await ended
      expect(Buffer.concat(parts).equals(data)).toBe(true)
    }
  })
})
