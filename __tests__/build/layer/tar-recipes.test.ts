/**
 * A gzip build has its blocks made by libdeflate's threads from recipes (tar-recipes.ts): the
 * layer must be, byte for byte, the tar the streamed build writes compressed block by block; the
 * recipes must make the tar exactly, wherever the cuts fall.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import * as fs from 'node:fs/promises'
import * as os from 'node:os'
import * as path from 'node:path'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { buildLayer } from '../../../src/build/layer/index.js'
import { RecipeCutter } from '../../../src/build/layer/tar-recipes.js'
import { PLACEHOLDER } from '../../../src/build/layer/tar-writer.js'
import { compressorStages } from '../../../src/codec/compress.js'
import { MediaType } from '../../../src/oci/mediatypes.js'
import { makeTree, pattern, patternedTrees, writePatternedTree } from '../../helpers/layer-tree.js'
import { blob, gzipOpts, sha, storesUnder } from '../../helpers/layer-build.js'

const MiB = 1024 * 1024
let work: string
let count = 0
const newStore = storesUnder(() => work)

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'lading-tar-recipes-'))
})
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true })
})

async function gzipOf(tar: Buffer, level?: number): Promise<Buffer> {
  const out: Buffer[] = []
  const sink = new Writable({
    write(c: Buffer, _e, cb) {
      out.push(c)
      cb()
    }
  })
  await pipeline([Readable.from([tar]), ...compressorStages('gzip', level), sink])
  return Buffer.concat(out)
}

/** The gzip layer of DIR equals its streamed tar (compression none) compressed in blocks. */
async function sameAsStreamed(dir: string, level?: number): Promise<void> {
  const input = { source: dir, dest: '/data', spec: `${dir}:/data` }
  const tarStore = await newStore()
  const tarLayer = await buildLayer(input, tarStore, { ...gzipOpts, compression: 'none' })
  const tar = await blob(tarStore, tarLayer)
  const store = await newStore()
  const built = await buildLayer(input, store, { ...gzipOpts, level })
  expect(built.descriptor.mediaType).toBe(MediaType.LayerGzip)
  expect(built.diffId).toBe(sha(tar))
  expect(sha(await blob(store, built))).toBe(sha(await gzipOf(tar, level)))
}

async function newDir(): Promise<string> {
  const dir = path.join(work, `tree-${count++}`)
  await fs.mkdir(dir)
  return dir
}

describe('gzip layers made from recipes', () => {
  it('are the streamed tar compressed: links, long names, empty files, cuts in bodies', async () => {
    const dir = await newDir()
    await makeTree(dir)
    await fs.writeFile(path.join(dir, 'empty-file'), '')
    // Sizes around the 1 MiB cuts: in a body, at its end, in the header after it.
    await fs.writeFile(path.join(dir, 'a-under'), pattern(MiB - 700, 1))
    await fs.writeFile(path.join(dir, 'b-exact'), pattern(MiB, 2))
    await fs.writeFile(path.join(dir, 'c-big'), pattern(3 * MiB + 12345, 3))
    await fs.link(path.join(dir, 'c-big'), path.join(dir, 'd-link'))
    await fs.writeFile(path.join(dir, 'e-last'), 'the last one\n')
    for (const level of [undefined, 6]) await sameAsStreamed(dir, level)
  })

  it('are for any tree (property, fixed seed)', async () => {
    await fc.assert(
      fc.asyncProperty(patternedTrees(10), async files => {
        const dir = await newDir()
        await writePatternedTree(dir, files)
        await sameAsStreamed(dir)
      }),
      { seed: 11, numRuns: 12 }
    )
  })
})

describe('RecipeCutter', () => {
  /** Completes a recipe's block the way a thread does, from files given as Buffers. */
  function make(
    recipe: { block: ArrayBuffer; files: ArrayBuffer; paths: string[] },
    length: number,
    files: Map<string, Buffer>
  ) {
    const block = Buffer.from(recipe.block)
    const p = new Float64Array(recipe.files)
    for (let i = 0; i < p.length; i += 5) {
      const file = files.get(recipe.paths[p[i + 1]])!
      file.copy(block, p[i], p[i + 2], p[i + 2] + p[i + 3])
      // LAST is set exactly on the range that ends the file.
      expect(p[i + 4] === 1).toBe(p[i + 2] + p[i + 3] === file.length)
    }
    return Buffer.from(block.subarray(0, length))
  }

  it('cuts any stream of bytes and bodies into recipes of its size that make it (property)', () => {
    const part = fc.oneof(
      fc.record({ kind: fc.constant('bytes' as const), n: fc.integer({ min: 1, max: 3000 }) }),
      fc.record({ kind: fc.constant('body' as const), n: fc.integer({ min: 1, max: 5000 }) })
    )
    fc.assert(
      fc.property(
        fc.array(part, { maxLength: 30 }),
        fc.integer({ min: 1, max: 4096 }),
        (parts, size) => {
          // Every block starts as noise, so a byte the recipe leaves unwritten shows.
          const cutter = new RecipeCutter(size, () => Uint8Array.from(pattern(size + 1, 99)).buffer)
          const files = new Map<string, Buffer>()
          const expected: Buffer[] = []
          const recipes: Array<{ length: number; made: Buffer }> = []
          const takeReady = () => {
            for (const r of cutter.ready.splice(0))
              recipes.push({ length: r.length, made: make(r.recipe, r.length, files) })
          }
          parts.forEach((p, i) => {
            const data = pattern(p.n, i)
            expected.push(data)
            if (p.kind === 'bytes') {
              // Handed over in two chunks, as a pack may.
              cutter.chunk(data.subarray(0, p.n >> 1))
              cutter.chunk(data.subarray(p.n >> 1))
            } else {
              const name = `/file-${i}`
              files.set(name, data)
              cutter.deferred(name, p.n)
              // A body comes as views of PLACEHOLDER of at most its size each.
              for (let at = 0; at < p.n; at += 1777)
                cutter.chunk(PLACEHOLDER.subarray(0, Math.min(1777, p.n - at)))
            }
            takeReady()
          })
          const rest = cutter.rest()
          if (rest)
            recipes.push({ length: rest.length, made: make(rest.recipe, rest.length, files) })
          const all = Buffer.concat(expected)
          for (const [i, r] of recipes.entries()) {
            expect(r.made.length).toBe(r.length)
            if (i < recipes.length - 1) expect(r.length).toBe(size)
          }
          expect(sha(Buffer.concat(recipes.map(r => r.made)))).toBe(sha(all))
        }
      ),
      { seed: 5, numRuns: 200 }
    )
  })
})
