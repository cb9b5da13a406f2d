import { describe, it, expect } from '@jest/globals'
import * as zlib from 'node:zlib'
import { createHash } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { DeflatePool } from '../../src/codec/deflate-wasm.js'
import { GZIP_BLOCK, ParallelGzip, type MemberCompressor } from '../../src/codec/gzip-members.js'
import {
  compressionLevel,
  compressorStages,
  gzipCodec,
  SharedCompressors
} from '../../src/codec/compress.js'
import { RecipeReadError, type TarRecipe } from '../../src/codec/tar-recipe.js'
import { LadingError } from '../../src/util/errors.js'

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

/** Bytes no compressor can shrink, the same on every run (xorshift32). */
function noise(n: number, seed = 0x9e3779b9): Buffer {
  const out = Buffer.alloc(n)
  let x = seed >>> 0
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    out[i] = x & 0xff
  }
  return out
}

/** Text-like bytes that compress several times over. */
function text(n: number): Buffer {
  const words = ['layer', 'digest', 'manifest', 'config', 'blob', 'index', 'tar', 'gzip', '\n']
  const parts: string[] = []
  let len = 0
  for (let i = 0; len < n; i++) {
    const w = words[(i * 7 + (i >> 3)) % words.length] + ' '
    parts.push(w)
    len += w.length
  }
  return Buffer.from(parts.join('')).subarray(0, n)
}

/** Splits a buffer into uneven pieces, as a stream would hand them over. */
function pieces(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = []
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size))
  return out
}

async function gzipThrough(members: MemberCompressor, input: Buffer[]): Promise<Buffer> {
  const out: Buffer[] = []
  const gz = new ParallelGzip(members)
  gz.on('data', (c: Buffer) => out.push(c))
  await pipeline(Readable.from(input), gz)
  return Buffer.concat(out)
}

const gzipWasm = (input: Buffer[], level = 1, threads = 2) =>
  gzipThrough(new DeflatePool(level, threads), input)

function gunzipTool(gz: Buffer): Buffer {
  return execFileSync('gzip', ['-dc'], { input: gz, maxBuffer: 64 << 20 })
}

describe('libdeflate gzip on worker threads', () => {
  const sizes = [
    0,
    1,
    GZIP_BLOCK - 1,
    GZIP_BLOCK,
    GZIP_BLOCK + 1,
    2 * GZIP_BLOCK,
    3 * GZIP_BLOCK + 1234
  ]

  it.each(sizes)(
    'gives back %i bytes of noise and of text through gunzip and gzip -dc',
    async n => {
      for (const data of [noise(n), text(n)]) {
        const gz = await gzipWasm(pieces(data, 65521))
        expect(sha(zlib.gunzipSync(gz))).toBe(sha(data))
        expect(sha(gunzipTool(gz))).toBe(sha(data))
      }
    }
  )

  it('writes one member per 1 MiB block, each with mtime 0 and OS 255', async () => {
    const data = text(2 * GZIP_BLOCK + 10)
    const gz = await gzipWasm([data])
    let at = 0
    let count = 0
    while (at < gz.length) {
      expect(gz.subarray(at, at + 4)).toEqual(Buffer.from([0x1f, 0x8b, 8, 0]))
      expect(gz.readUInt32LE(at + 4)).toBe(0)
      expect(gz[at + 9]).toBe(0xff)
      // A member's end is where a raw inflate of its body stops; its trailer is 8 bytes.
      const body = zlib.inflateRawSync(gz.subarray(at + 10), { info: true }) as unknown as {
        engine: zlib.InflateRaw
      }
      at += 10 + body.engine.bytesWritten + 8
      count++
    }
    expect(count).toBe(3)
  })

  it('gives the same bytes whatever the chunking, the number of threads and the run', async () => {
    const data = Buffer.concat([text(GZIP_BLOCK + 5000), noise(GZIP_BLOCK), text(700_000)])
    const first = await gzipWasm([data], 1, 1)
    for (const threads of [1, 2, 3])
      for (const chunk of [4096, 65521, data.length]) {
        const again = await gzipWasm(pieces(data, chunk), 1, threads)
        expect(sha(again)).toBe(sha(first))
      }
  })

  it("makes a layer's only block on this thread, starting none, with the thread's bytes", async () => {
    for (const data of [Buffer.alloc(0), text(5000), noise(GZIP_BLOCK - 1), text(GZIP_BLOCK)])
      for (const level of [1, 2, 6]) {
        const here = new DeflatePool(level, 1)
        const gz = await gzipThrough(here, [data])
        // A whole block fills the stream's first member, which goes to a thread like any other.
        expect(here.threadsStarted).toBe(data.length < GZIP_BLOCK ? 0 : 1)
        await here.close()
        const threaded = new DeflatePool(level, 1)
        const member = await threaded.member(data)
        expect(threaded.threadsStarted).toBe(1)
        await threaded.close()
        expect(sha(gz)).toBe(sha(member))
        expect(sha(gunzipTool(gz))).toBe(sha(data))
      }
    // A pool whose thread runs already hands the only block to it.
    const warm = new DeflatePool(1, 1)
    await warm.member(text(100))
    const gz = await warm.only(text(200))
    expect(warm.threadsStarted).toBe(1)
    await warm.close()
    expect(sha(zlib.gunzipSync(gz))).toBe(sha(text(200)))
  })

  // Level 1 steps over bytes after a run of misses (scripts/libdeflate-fast.patch): runs of
  // noise of every length, between text and zeros and across the 32 KiB window and blocks, must
  // come back whole, and noise must not grow past gzip's bound.
  it('gives back every byte where level 1 steps over data that does not compress', async () => {
    const parts: Buffer[] = []
    for (const n of [63, 64, 65, 4095, 32767, 32768, 32769, 65536, 200_001])
      parts.push(noise(n, n), text(n % 5000), Buffer.alloc(n % 3001), noise(n >> 3, n + 1))
    const data = Buffer.concat(parts)
    const gz = await gzipWasm(pieces(data, 65536), 1, 2)
    expect(sha(gunzipTool(gz))).toBe(sha(data))
    expect(sha(zlib.gunzipSync(gz))).toBe(sha(data))
    const random = noise(3 * GZIP_BLOCK + 17, 42)
    const packed = await gzipWasm([random], 1, 1)
    expect(sha(gunzipTool(packed))).toBe(sha(random))
    expect(packed.length).toBeLessThan(random.length * 1.001 + 4 * 64)
  })

  // The patch's 64-bit machine word reaches every level's bit writer and match extension.
  it('compresses at every gzip level the input allows: text, noise and runs of zeros', async () => {
    const data = Buffer.concat([
      text(300_000),
      noise(70_001, 3),
      Buffer.alloc(40_000),
      text(1_000),
      noise(7, 4),
      text(GZIP_BLOCK - 411_009)
    ])
    for (let level = 0; level <= 9; level++) {
      const gz = await gzipWasm([data], level, 1)
      expect(sha(zlib.gunzipSync(gz))).toBe(sha(data))
      expect(sha(gunzipTool(gz))).toBe(sha(data))
    }
  })

  // Level 1 hashes only some of a match's positions and tries its offset again right after it:
  // data repeated from further back than one match's 258 bytes must come back, and stay small.
  it('gives back data repeated at every distance up to the window, and packs long repeats', async () => {
    const unit = noise(1500, 9)
    const parts: Buffer[] = []
    for (const distance of [5, 6, 257, 258, 259, 4096, 32767, 32768]) {
      const seed = noise(distance, distance)
      parts.push(seed, seed, seed.subarray(0, distance >> 1), text(97))
    }
    const data = Buffer.concat(parts)
    const gz = await gzipWasm([data], 1, 1)
    expect(sha(gunzipTool(gz))).toBe(sha(data))
    const repeated = Buffer.concat(Array.from({ length: 600 }, () => unit))
    const packed = await gzipWasm([repeated], 1, 1)
    expect(sha(zlib.gunzipSync(packed))).toBe(sha(repeated))
    expect(packed.length).toBeLessThan(repeated.length / 50)
  })

  it('is the default gzip, and its stages give a gzip file', async () => {
    const level = compressionLevel('gzip') as number
    expect(gzipCodec(level)).toBe('libdeflate')
    const data = text(GZIP_BLOCK + 99)
    const out: Buffer[] = []
    const [stage] = compressorStages('gzip')
    stage.on('data', (c: Buffer) => out.push(c))
    await pipeline(Readable.from([data]), stage)
    expect(sha(zlib.gunzipSync(Buffer.concat(out)))).toBe(sha(data))
  })

  it('ends in a clear error when a worker thread crashes, failing every member waiting', async () => {
    // One thread: the members after the crash wait for it, so none can finish first.
    const pool = new DeflatePool(1, 1)
    // A block larger than the workers' buffers makes the worker throw, as any crash would.
    const crash = pool.member(Buffer.alloc(GZIP_BLOCK + 1))
    const others = [pool.member(text(1000)), pool.member(text(2000))]
    await expect(crash).rejects.toThrow(LadingError)
    await expect(crash).rejects.toThrow(/gzip compression failed in a libdeflate worker thread/)
    for (const other of others)
      await expect(other).rejects.toThrow(/gzip compression failed in a libdeflate worker thread/)
    await expect(pool.member(text(10))).rejects.toThrow(/libdeflate worker thread/)
    await pool.close()
  })

  it('fails the stream when a worker crashes in the middle of it', async () => {
    const pool = new DeflatePool(1, 2)
    let blocks = 0
    const crashOnSecond: MemberCompressor = {
      maxInFlight: pool.maxInFlight,
      member: block => pool.member(blocks++ === 1 ? Buffer.alloc(GZIP_BLOCK + 1) : block),
      close: () => pool.close()
    }
    await expect(gzipThrough(crashOnSecond, [text(4 * GZIP_BLOCK)])).rejects.toThrow(
      /gzip compression failed in a libdeflate worker thread: .*too large/
    )
  })

  it("a run's shared compressors: streams at once give their own bytes; only the run closes them", async () => {
    const shared = new SharedCompressors()
    const a = Buffer.concat([text(GZIP_BLOCK + 5000), noise(300_000)])
    const b = Buffer.concat([noise(GZIP_BLOCK), text(2 * GZIP_BLOCK)])
    const gz = (data: Buffer) => {
      const out: Buffer[] = []
      const [stage] = compressorStages('gzip', 1, { shared })
      stage.on('data', (c: Buffer) => out.push(c))
      return pipeline(Readable.from(pieces(data, 65521)), stage).then(() => Buffer.concat(out))
    }
    const [ga, gb] = await Promise.all([gz(a), gz(b)])
    expect(sha(ga)).toBe(sha(await gzipWasm([a], 1, 1)))
    expect(sha(gb)).toBe(sha(await gzipWasm([b], 1, 1)))
    // Both streams have ended, each closing its members: the run's pool still works ...
    const again = shared.gzip(1)
    expect(sha(zlib.gunzipSync(await again.member(text(1000))))).toBe(sha(text(1000)))
    // ... until the run closes it.
    await shared.close()
    await expect(again.member(text(10))).rejects.toThrow(/after close/)
  })

  it('starts its first thread when warmed, before any block, and gives the same bytes', async () => {
    const data = Buffer.concat([text(2 * GZIP_BLOCK + 99), noise(GZIP_BLOCK)])
    const warmed = new DeflatePool(1, 2)
    warmed.warm()
    expect(warmed.threadsStarted).toBe(1)
    warmed.warm()
    expect(warmed.threadsStarted).toBe(1)
    // A layer's only block, with the thread running, gives its bytes as ever.
    const only = await warmed.only(text(300))
    expect(warmed.threadsStarted).toBe(1)
    expect(sha(zlib.gunzipSync(only))).toBe(sha(text(300)))
    // The stream closes the pool at its end.
    const gz = await gzipThrough(warmed, pieces(data, 65521))
    expect(sha(gz)).toBe(sha(await gzipWasm([data], 1, 1)))
    // Warming a closed pool starts nothing.
    const started = warmed.threadsStarted
    warmed.warm()
    expect(warmed.threadsStarted).toBe(started)
  })

  it('starts a thread more only once its threads find every job waiting, and not past its threads', async () => {
    const pool = new DeflatePool(1, 3)
    const alone = new DeflatePool(1, 1)
    try {
      // Two blocks per thread in flight, and one more while threads may start.
      expect(pool.maxInFlight).toBe(3)
      // One block at a time, each waited for: the thread waits for each, and stays the only one.
      for (let i = 0; i < 8; i++) await pool.member(text(GZIP_BLOCK))
      expect(pool.threadsStarted).toBe(1)
      expect(pool.maxInFlight).toBe(3)
      // Many at once: the thread finds each next one queued already, and a second starts, then a
      // third. When a thread more starts depends on how the threads are scheduled (an answer
      // finds nothing queued when this thread was late to post the next), so batches go on until
      // the third has started: 12 at most, each of 40 blocks.
      const blocks = Array.from({ length: 40 }, (_, i) =>
        i % 2 ? noise(GZIP_BLOCK) : text(GZIP_BLOCK - i)
      )
      const first = await Promise.all(blocks.map(b => pool.member(b)))
      for (let batch = 1; batch < 12 && pool.threadsStarted < 3; batch++)
        await Promise.all(blocks.map(b => pool.member(b)))
      expect(pool.threadsStarted).toBe(3)
      // However long the backlog, no thread more than the pool's three.
      const last = await Promise.all([...blocks, ...blocks].map(b => pool.member(b)))
      expect(pool.threadsStarted).toBe(3)
      expect(pool.maxInFlight).toBe(6)
      // The members are those one thread makes alone, however many made them.
      expect(alone.maxInFlight).toBe(2)
      for (let i = 0; i < blocks.length; i++) {
        const made = sha(await alone.member(blocks[i]))
        expect([sha(first[i]), sha(last[i]), sha(last[i + blocks.length])]).toEqual([
          made,
          made,
          made
        ])
      }
      expect(alone.threadsStarted).toBe(1)
    } finally {
      await Promise.all([pool.close(), alone.close()])
    }
  })

  it("a run's shared compressors warm a libdeflate level's threads, and none for zlib's", async () => {
    const shared = new SharedCompressors()
    expect(gzipCodec(2)).toBe('zlib')
    shared.warm(2)
    expect(shared.threads()).toBe(0)
    shared.warm(1)
    expect(shared.threads()).toBeGreaterThan(0)
    const started = shared.threads()
    const member = await shared.gzip(1).member(text(5000))
    expect(sha(zlib.gunzipSync(member))).toBe(sha(text(5000)))
    expect(shared.threads()).toBe(started)
    await shared.close()
  })

  it('refuses work once closed', async () => {
    const pool = new DeflatePool(1, 1)
    await pool.member(text(10))
    await pool.close()
    await expect(pool.member(text(10))).rejects.toThrow(/after close/)
  })
})

describe('blocks made from recipes (tar-recipe.ts)', () => {
  /** A recipe of `bytes` then the whole of each file, in order, in a buffer of the pool's. */
  function recipeOf(
    pool: DeflatePool,
    bytes: Buffer,
    files: Array<{ path: string; size: number }>
  ): TarRecipe {
    const block = pool.recipeBuffer()
    new Uint8Array(block).set(bytes)
    const ranges: number[] = []
    let at = bytes.length
    files.forEach((f, i) => {
      ranges.push(at, i, 0, f.size, 1)
      at += f.size
    })
    return { block, files: new Float64Array(ranges).buffer, paths: files.map(f => f.path) }
  }

  it("makes the recipe's block and the member `member` makes of it, here or on a thread", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lading-recipe-'))
    try {
      const a = path.join(dir, 'a')
      const b = path.join(dir, 'b')
      fs.writeFileSync(a, text(300_000))
      fs.writeFileSync(b, noise(200_000))
      const head = text(1000)
      const block = Buffer.concat([head, text(300_000), noise(200_000)])
      const files = [
        { path: a, size: 300_000 },
        { path: b, size: 200_000 }
      ]
      const reference = new DeflatePool(1, 1)
      const member = await reference.member(block)
      await reference.close()
      const here = new DeflatePool(1, 1)
      const madeHere = await here.onlyRecipe(recipeOf(here, head, files), block.length)
      expect(here.threadsStarted).toBe(0)
      const madeThere = await here.recipe(recipeOf(here, head, files), block.length)
      expect(here.threadsStarted).toBe(1)
      for (const made of [madeHere, madeThere]) {
        expect(sha(made.block)).toBe(sha(block))
        expect(sha(made.member)).toBe(sha(member))
        made.done()
      }
      await here.close()
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('answers a file that changed or went away with its path; the thread goes on', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lading-recipe-'))
    try {
      const f = path.join(dir, 'f')
      fs.writeFileSync(f, text(5000))
      const pool = new DeflatePool(1, 1)
      const failure = async (make: 'recipe' | 'onlyRecipe', size: number, p = f) => {
        const err = await pool[make](
          recipeOf(pool, Buffer.alloc(0), [{ path: p, size }]),
          size
        ).then(
          () => undefined,
          (e: unknown) => e
        )
        expect(err).toBeInstanceOf(RecipeReadError)
        return (err as RecipeReadError).failure
      }
      for (const make of ['onlyRecipe', 'recipe'] as const) {
        // Shorter and longer than its size said: changed.
        expect(await failure(make, 5001)).toMatchObject({ path: f, changed: true })
        expect(await failure(make, 4999)).toMatchObject({ path: f, changed: true })
        expect(await failure(make, 10, path.join(dir, 'gone'))).toMatchObject({
          path: path.join(dir, 'gone'),
          changed: false,
          code: 'ENOENT'
        })
      }
      const made = await pool.recipe(
        recipeOf(pool, Buffer.alloc(0), [{ path: f, size: 5000 }]),
        5000
      )
      expect(sha(zlib.gunzipSync(made.member))).toBe(sha(text(5000)))
      expect(pool.threadsStarted).toBe(1)
      await pool.close()
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
