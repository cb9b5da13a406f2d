import { describe, expect, it } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import * as zlib from 'node:zlib'
import { parseCompression } from '../../src/build/layer/index.js'
import { compressionLevel, GZIP_BLOCK } from '../../src/codec/compress.js'
import { ParallelGzip, zlibMembers } from '../../src/codec/gzip-members.js'
import { LadingError } from '../../src/util/errors.js'

const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex')

describe('compression inputs', () => {
  it('parses the three compressions and rejects others by name', () => {
    expect(parseCompression('gzip')).toBe('gzip')
    expect(parseCompression(' ZSTD ')).toBe('zstd')
    expect(parseCompression('none')).toBe('none')
    expect(() => parseCompression('xz')).toThrow(
      new LadingError('compression: "xz" is not one of gzip, zstd, none')
    )
  })

  it('checks the level against each compressor', () => {
    expect(compressionLevel('gzip')).toBe(1)
    expect(compressionLevel('zstd')).toBe(3)
    expect(compressionLevel('gzip', 9)).toBe(9)
    expect(compressionLevel('zstd', '19')).toBe(19)
    expect(compressionLevel('none', 5)).toBeUndefined()
    expect(() => compressionLevel('gzip', 10)).toThrow(
      /^compression-level: "10" is not valid for gzip; use a whole number from 0 to 9/
    )
    expect(() => compressionLevel('zstd', 0)).toThrow(
      /^compression-level: "0" is not valid for zstd/
    )
    expect(() => compressionLevel('zstd', 'fast')).toThrow(LadingError)
    expect(() => compressionLevel('gzip', 2.5)).toThrow(LadingError)
  })
})

describe('parallel gzip', () => {
  async function gzipOf(input: Buffer[], level = 6): Promise<Buffer> {
    const out: Buffer[] = []
    const gz = new ParallelGzip(zlibMembers(level))
    gz.on('data', (c: Buffer) => out.push(c))
    await pipeline(Readable.from(input), gz)
    return Buffer.concat(out)
  }

  function members(gz: Buffer): number {
    // Each member starts with the magic, CM 8, FLG 0, MTIME 0, XFL, OS 255.
    let n = 0
    for (let i = 0; i + 10 <= gz.length; i++)
      if (
        gz[i] === 0x1f &&
        gz[i + 1] === 0x8b &&
        gz[i + 2] === 8 &&
        gz.readUInt32LE(4) === 0 &&
        gz[9] === 0xff
      )
        n++
    return n
  }

  it('cuts fixed blocks whatever the input chunking, and any gzip reader gets the data back', async () => {
    const data = Buffer.alloc(GZIP_BLOCK * 3 + 1234)
    for (let i = 0; i < data.length; i++) data[i] = (i * 31 + (i >> 9)) & 0xff
    const whole = await gzipOf([data])
    const pieces: Buffer[] = []
    for (let i = 0; i < data.length; i += 65521) pieces.push(data.subarray(i, i + 65521))
    expect((await gzipOf(pieces)).equals(whole)).toBe(true)
    expect(members(whole)).toBeGreaterThanOrEqual(4)
    expect(sha(zlib.gunzipSync(whole))).toBe(sha(data))
    expect(sha(execFileSync('gzip', ['-dc'], { input: whole, maxBuffer: 64 << 20 }))).toBe(
      sha(data)
    )
  })

  it('writes a valid gzip file for empty input', async () => {
    const gz = await gzipOf([])
    expect(zlib.gunzipSync(gz).length).toBe(0)
    expect(execFileSync('gzip', ['-dc'], { input: gz }).length).toBe(0)
  })
})
