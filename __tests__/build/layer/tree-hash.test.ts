/**
 * The diff pass of a cache lookup reads and hashes files on a thread of its own (tree-hash.ts):
 * its diff_id must be the built layer's, byte for byte, for any tree; a file that changes or
 * goes away while it is read is the same clear error as in a build.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import * as fs from 'node:fs/promises'
import * as fsSync from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { buildLayer, layerDiffPass, type LayerOptions } from '../../../src/build/layer/index.js'
import { LadingError } from '../../../src/util/errors.js'
import { MemoryRelief } from '../../../src/util/memory.js'
import { makeTree, pattern, patternedTrees, writePatternedTree } from '../../helpers/layer-tree.js'
import { checksCalling, gzipOpts, MTIME, storesUnder } from '../../helpers/layer-build.js'
import { HashThreads, hashThreadsStarted } from '../../../src/build/layer/tree-hash.js'

const MiB = 1024 * 1024
let work: string
let count = 0
const newStore = storesUnder(() => work)

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'lading-tree-hash-'))
})
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true })
})

async function newDir(): Promise<string> {
  const dir = path.join(work, `tree-${count++}`)
  await fs.mkdir(dir)
  return dir
}

async function sameDiffId(dir: string, opts: LayerOptions = gzipOpts): Promise<string> {
  const input = { source: dir, dest: '/data', spec: `${dir}:/data` }
  const pass = await layerDiffPass(input, await newStore(), opts)
  const built = await buildLayer(input, await newStore(), opts)
  expect(pass?.diffId).toBe(built.diffId)
  return built.diffId
}

describe('the diff pass with files read on a thread', () => {
  it("gives the built layer's diff_id: long names, links, empty and multi-MiB files", async () => {
    const dir = await newDir()
    await makeTree(dir)
    await fs.writeFile(path.join(dir, 'empty-file'), '')
    await fs.writeFile(path.join(dir, 'one-mib'), pattern(MiB, 1))
    await fs.writeFile(path.join(dir, 'big'), pattern(3 * MiB + 12345, 2))
    await fs.writeFile(path.join(dir, 'after-big'), 'the last one\n')
    await fs.link(path.join(dir, 'big'), path.join(dir, 'big-again'))
    for (const compression of ['gzip', 'none'] as const)
      await sameDiffId(dir, { ...gzipOpts, compression })
  })

  it('gives it for any small tree (property, fixed seed)', async () => {
    await fc.assert(
      fc.asyncProperty(patternedTrees(12), async files => {
        const dir = await newDir()
        await writePatternedTree(dir, files)
        await sameDiffId(dir)
      }),
      { seed: 7, numRuns: 15 }
    )
  })

  it('leaves memory relief alone: it reads no bytes here, where a streamed build counts each entry', async () => {
    const dir = await newDir()
    await makeTree(dir)
    const counted = (): [MemoryRelief, () => number] => {
      let total = 0
      const relief = new MemoryRelief()
      relief.moved = (n: number) => void (total += n)
      return [relief, () => total]
    }
    const input = { source: dir, dest: '/data', spec: 'tree' }
    const [passRelief, passMoved] = counted()
    await layerDiffPass(input, await newStore(), { ...gzipOpts, relief: passRelief })
    expect(passMoved()).toBe(0)
    const [buildRelief, buildMoved] = counted()
    await buildLayer(input, await newStore(), {
      ...gzipOpts,
      compression: 'zstd',
      relief: buildRelief
    })
    expect(buildMoved()).toBeGreaterThan(0)
    // A gzip build's blocks are made on a thread into buffers used again: no garbage to count.
    const [gzipRelief, gzipMoved] = counted()
    await buildLayer(input, await newStore(), { ...gzipOpts, relief: gzipRelief })
    expect(gzipMoved()).toBe(0)
  })

  // A tar under 4 MiB is hashed on the main thread, a larger one on a thread: both ways fail alike.
  const ways = [
    ['on the main thread', 0],
    ['on a thread', 5 * MiB]
  ] as const

  /** The diff pass of DIR's tree, with `onHeader` run at each header; how many threads it began. */
  async function passFailing(dir: string, onHeader: (name: string) => void) {
    const checks = checksCalling(h => onHeader(h.name))
    const input = { source: dir, dest: '/data', spec: 'tree' }
    const before = hashThreadsStarted()
    const err = await layerDiffPass(input, await newStore(), {
      compression: 'gzip',
      mtime: MTIME,
      checks
    }).catch((e: unknown) => e)
    return { err, threads: hashThreadsStarted() - before }
  }

  it.each(ways)(
    'hashed %s, a small tree or a large one gives the built diff_id',
    async (_, ahead) => {
      const dir = await newDir()
      if (ahead) await fs.writeFile(path.join(dir, 'a-big.bin'), pattern(ahead, 9))
      await fs.writeFile(path.join(dir, 'b.txt'), 'some text\n')
      const before = hashThreadsStarted()
      await sameDiffId(dir)
      expect(hashThreadsStarted() - before).toBe(ahead ? 1 : 0)
    }
  )

  it.each(ways)(
    'hashed %s, a file that shrinks after its header: changed while it was read',
    async (_, ahead) => {
      const dir = await newDir()
      const victim = path.join(dir, 'b.bin')
      if (ahead) await fs.writeFile(path.join(dir, 'a-big.bin'), pattern(ahead, 5))
      await fs.writeFile(path.join(dir, 'a.txt'), 'first\n')
      await fs.writeFile(victim, pattern(2 * MiB, 3))
      const { err, threads } = await passFailing(dir, name => {
        if (name.endsWith('b.bin')) fsSync.truncateSync(victim, MiB)
      })
      expect(threads).toBe(ahead ? 1 : 0)
      expect(err).toBeInstanceOf(LadingError)
      expect((err as Error).message).toBe(
        `layers: "tree": file "${victim}" changed while it was being read; retry`
      )
    }
  )

  it.each(ways)(
    'hashed %s, a file that grows, goes away or becomes a FIFO after its header: a clear error naming it',
    async (_, ahead) => {
      for (const how of ['grows', 'goes', 'fifo'] as const) {
        const dir = await newDir()
        const victim = path.join(dir, 'b.bin')
        if (ahead) await fs.writeFile(path.join(dir, 'a-big.bin'), pattern(ahead, 6))
        await fs.writeFile(victim, pattern(5000, 4))
        // Should opening the FIFO wait for a writer, one comes after 8 s: a failure, not a hang.
        let writer: ChildProcess | undefined
        const started = Date.now()
        const { err, threads } = await passFailing(dir, name => {
          if (!name.endsWith('b.bin')) return
          if (how === 'grows') fsSync.appendFileSync(victim, 'more')
          else fsSync.rmSync(victim)
          if (how !== 'fifo') return
          execFileSync('mkfifo', [victim])
          writer = spawn('timeout', ['10', 'sh', '-c', 'sleep 8; : > "$1"', 'sh', victim], {
            stdio: 'ignore'
          })
        })
        writer?.kill()
        // Before the FIFO's writer comes (8 s): it failed, not waited.
        expect(Date.now() - started).toBeLessThan(7000)
        expect(threads).toBe(ahead ? 1 : 0)
        expect(err).toBeInstanceOf(LadingError)
        expect((err as Error).message).toContain(victim)
        expect((err as Error).message).toMatch(how === 'goes' ? /no such|exist/i : /changed while/)
      }
    }
  )

  describe("a run's hashing thread started ahead (HashThreads)", () => {
    /** A tree past the 4 MiB a pass hashes on the main thread, and the options to pass it with. */
    async function largeTree(seed: number): Promise<string> {
      const dir = await newDir()
      await fs.writeFile(path.join(dir, 'a-big.bin'), pattern(5 * MiB, seed))
      await fs.writeFile(path.join(dir, 'b.txt'), 'after the big one\n')
      return dir
    }

    it('is taken by the first pass that needs a thread; the next pass starts its own', async () => {
      const [one, two] = [await largeTree(11), await largeTree(12)]
      const threads = new HashThreads()
      const before = hashThreadsStarted()
      threads.warm()
      threads.warm()
      expect(hashThreadsStarted() - before).toBe(1)
      await sameDiffId(one, { ...gzipOpts, hashThreads: threads })
      expect(hashThreadsStarted() - before).toBe(1)
      await sameDiffId(two, { ...gzipOpts, hashThreads: threads })
      expect(hashThreadsStarted() - before).toBe(2)
      await threads.close()
    })

    it('is not taken by a pass small enough to hash on the main thread; close stops it', async () => {
      const dir = await newDir()
      await fs.writeFile(path.join(dir, 'small.txt'), 'small\n')
      const threads = new HashThreads()
      const before = hashThreadsStarted()
      threads.warm()
      await sameDiffId(dir, { ...gzipOpts, hashThreads: threads })
      // Still there, for a pass that needs a thread.
      expect((threads as unknown as { ready?: unknown }).ready).toBeDefined()
      await threads.close()
      // Closed, it is gone: a pass that needs a thread now starts one.
      await sameDiffId(await largeTree(13), { ...gzipOpts, hashThreads: threads })
      expect(hashThreadsStarted() - before).toBe(2)
    })

    it('is not handed out once it has stopped: the pass starts a thread of its own', async () => {
      const threads = new HashThreads()
      threads.warm()
      // As a thread that failed to start, or was stopped from outside, would be.
      const ready = (
        threads as unknown as { ready: { worker: import('node:worker_threads').Worker } }
      ).ready.worker
      const exited = new Promise(resolve => ready.once('exit', resolve))
      await ready.terminate()
      await exited
      const before = hashThreadsStarted()
      await sameDiffId(await largeTree(14), { ...gzipOpts, hashThreads: threads })
      expect(hashThreadsStarted() - before).toBe(1)
      await threads.close()
    })

    it('leaves no listener of its own on the thread a pass takes', async () => {
      const threads = new HashThreads()
      threads.warm()
      const worker = threads.take()
      expect([worker.listenerCount('error'), worker.listenerCount('exit')]).toEqual([0, 0])
      // Taken, it is no longer the run's: close leaves it running, for its pass to stop.
      await threads.close()
      expect(worker.threadId).toBeGreaterThan(0)
      await worker.terminate()
    })
  })
})
