import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { crc32 } from 'node:zlib'
import { Worker } from 'node:worker_threads'
import { WORKER_LIMITS } from './threads.js'
import { LadingError, messageOf } from '../util/errors.js'
import {
  deflateWorkerSource,
  libdeflateMembers,
  type MakeMember,
  type DeflateJob,
  type DeflateResult,
  type DeflateWorkerData
} from './deflate-worker.js'
import { GZIP_BLOCK, type MemberCompressor, type RecipeBlock } from './gzip-members.js'
import { fillRecipe, rangeReader, RecipeReadError, type TarRecipe } from './tar-recipe.js'

/**
 * libdeflate (src/codec/wasm/, built by scripts/build-libdeflate-wasm.sh), compiled once per
 * process: the module is immutable and shared by every worker of every pool.
 */
let compiled: WebAssembly.Module | undefined

export function libdeflateModule(): WebAssembly.Module {
  if (!compiled) {
    let bytes: Buffer
    try {
      // ncc copies the file next to the bundle when it sees this exact form, and only when it
      // can parse this whole file: its parser knows no `??=` (nor `||=`, `&&=`); with one here
      // it leaves the file to webpack, which emits a broken, renamed copy of the module.
      // __tests__/codec/libdeflate-licence.test.ts checks that the bundles read the committed one.
      bytes = readFileSync(new URL('./wasm/libdeflate.wasm', import.meta.url))
    } catch (err) {
      throw new LadingError(`gzip: Lading's libdeflate.wasm cannot be read: ${messageOf(err)}`)
    }
    compiled = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>)
  }
  return compiled
}

/**
 * Bytes of a job's buffer: a block, and then its member, which for a block that does not
 * compress is larger (libdeflate's bound: 5 bytes per 5,000 and 9 more; gzip's 18).
 */
const JOB_ROOM = 4096
const JOB_BYTES = GZIP_BLOCK + JOB_ROOM

/** Bytes of a recipe's buffer: its block, then the block's member. */
const RECIPE_JOB_BYTES = 2 * GZIP_BLOCK + JOB_ROOM

/** Jobs posted to a worker at once: the one it makes, and the next. */
const POSTED = 2

/**
 * Answers in a row of jobs that were queued (DeflateResult) before a thread more starts: more
 * than POSTED, which a thread gets in a row whenever this thread posts them at once, however
 * slowly it makes them.
 */
const BUSY_ANSWERS = POSTED + 2

/** libdeflate on the main thread, by level: made once, for layers of a single small block. */
const onMainThread = new Map<number, MakeMember>()

function mainThreadMembers(level: number): MakeMember {
  let make = onMainThread.get(level)
  if (!make) {
    make = libdeflateMembers(libdeflateModule(), level, GZIP_BLOCK, rangeReader, fillRecipe)
    onMainThread.set(level, make)
  }
  return make
}

/**
 * One worker per core but one, and two at most. The main thread walks the tree, writes the tar
 * and hashes it and the layer, most of a core's work (0.6-0.8 s of CPU for the benchmark's 208 MB
 * tar when the workers read the files, 1 s when it reads them), while compressing it takes 0.8 s:
 * past two workers the main thread is the bound, and each worker holds 15-20 MiB more (7 workers,
 * as on an 8-core runner, forced on 2 cores: 206-210 MiB). On 2 cores one worker built that layer
 * as fast as two (the three threads shared two cores) with 20 MiB less memory.
 */
const MAX_THREADS = 2

function defaultThreads(): number {
  return Math.min(MAX_THREADS, Math.max(1, availableParallelism() - 1))
}

interface Job {
  data: DeflateJob
  resolve(result: DeflateResult): void
  reject(err: Error): void
}

/**
 * gzip members made by libdeflate in WebAssembly, on worker threads (one per core but one, two
 * at most), each worker compressing one block at a time. libdeflate compresses each block on its
 * own, so a member's bytes depend on the block and the level only, whichever worker made it.
 *
 * A block given as a recipe (tar-recipe.ts) is made by the worker, which reads its files: the
 * main thread then only walks the tree, writes the tar's headers and hashes.
 */
export class DeflatePool implements MemberCompressor {
  private readonly workers = new Set<Worker>()
  /** The jobs posted to each worker, in the order it answers them. */
  private readonly posted = new Map<Worker, Job[]>()
  private readonly queue: Job[] = []
  /** Job buffers back from the workers, so that a build allocates only as many as are in flight. */
  private readonly spare: ArrayBuffer[] = []
  private readonly recipeSpare: ArrayBuffer[] = []
  private failure: LadingError | undefined
  private closing = false
  /** Answers in a row of jobs that were queued when their worker answered the one before. */
  private busyAnswers = 0

  constructor(
    private readonly level: number,
    private readonly threads = defaultThreads()
  ) {}

  /**
   * One block running and one waiting per thread started, so a thread never waits for the stream,
   * and while the pool may start more, one waiting for room: what tells that it should (next).
   * Each holds a buffer of 2 MiB.
   */
  get maxInFlight(): number {
    const started = Math.max(1, this.workers.size)
    return POSTED * started + (started < this.threads ? 1 : 0)
  }

  /** Threads started so far. */
  threadsStarted = 0

  member(block: Buffer): Promise<Buffer> {
    return this.run(this.job(block)).then(({ buffer, size }) => {
      const member = Buffer.allocUnsafe(size)
      member.set(new Uint8Array(buffer, 0, size))
      if (buffer.byteLength === JOB_BYTES) this.spare.push(buffer)
      return member
    })
  }

  /**
   * A layer's only block, compressed right here unless a worker is running already: starting a
   * thread costs the process more than 0.1 s of CPU, compressing a block under 1 MiB far less.
   */
  only(block: Buffer): Promise<Buffer> {
    if (this.busy() || block.length > GZIP_BLOCK) return this.member(block)
    return this.here(this.job(block)).then(({ buffer, size }) => Buffer.from(buffer, 0, size))
  }

  /** The block of `length` bytes a recipe makes, made and compressed by a worker. */
  recipe(recipe: TarRecipe, length: number): Promise<RecipeBlock> {
    return this.run(this.recipeJob(recipe, length)).then(result => this.recipeBlock(result, length))
  }

  /** A layer's only block as a recipe: made and compressed right here unless a worker runs. */
  onlyRecipe(recipe: TarRecipe, length: number): Promise<RecipeBlock> {
    if (this.busy()) return this.recipe(recipe, length)
    return this.here(this.recipeJob(recipe, length)).then(r => this.recipeBlock(r, length))
  }

  private busy(): boolean {
    return this.workers.size > 0 || this.failure !== undefined || this.closing
  }

  private run(data: DeflateJob): Promise<DeflateResult> {
    if (this.failure) return Promise.reject(this.failure)
    if (this.closing) return Promise.reject(new Error('DeflatePool used after close'))
    return new Promise((resolve, reject) => {
      this.queue.push({ data, resolve, reject })
      this.dispatch()
    })
  }

  /** A job done on this thread, by the same code as the workers'. */
  private here(data: DeflateJob): Promise<DeflateResult> {
    try {
      return Promise.resolve(mainThreadMembers(this.level)(data))
    } catch (err) {
      return Promise.reject(
        new LadingError(`gzip compression failed in libdeflate: ${messageOf(err)}`)
      )
    }
  }

  /**
   * A buffer for a recipe's block (its tar first, then room for its member): one given back by
   * an earlier block's `done`, else a new one.
   */
  recipeBuffer(): ArrayBuffer {
    return this.recipeSpare.pop() ?? new ArrayBuffer(RECIPE_JOB_BYTES)
  }

  private recipeJob(recipe: TarRecipe, length: number): DeflateJob {
    if (length > GZIP_BLOCK || recipe.block.byteLength !== RECIPE_JOB_BYTES)
      throw new Error(`a recipe of ${length} bytes in a buffer not from recipeBuffer`)
    return { buffer: recipe.block, length, crc: 0, recipe }
  }

  private recipeBlock({ buffer, size, failed }: DeflateResult, length: number): RecipeBlock {
    if (failed) {
      this.recipeSpare.push(buffer)
      throw new RecipeReadError(failed)
    }
    return {
      block: Buffer.from(buffer, 0, length),
      member: Buffer.from(buffer, length, size),
      done: () => void this.recipeSpare.push(buffer)
    }
  }

  /**
   * A block as a job: a copy in a buffer with room for its member, which a worker can take over
   * (the block is often a view into a larger pooled buffer), and its CRC-32, taken here while the
   * worker compresses, the build's slowest work.
   */
  private job(block: Buffer): DeflateJob {
    const buffer =
      block.length <= GZIP_BLOCK
        ? (this.spare.pop() ?? new ArrayBuffer(JOB_BYTES))
        : new ArrayBuffer(block.length + JOB_ROOM)
    new Uint8Array(buffer).set(block)
    return { buffer, length: block.length, crc: crc32(block) }
  }

  /**
   * Starts the first thread now (see MemberCompressor.warm); `only` then uses it too. The others
   * start when blocks wait for it (next).
   */
  warm(): void {
    if (!this.failure && !this.closing && this.workers.size === 0) this.spawn()
  }

  async close(): Promise<void> {
    this.closing = true
    await Promise.all([...this.workers].map(w => w.terminate()))
  }

  private dispatch(): void {
    while (this.queue.length > 0 && !this.failure) {
      const worker = this.next()
      if (!worker) return
      const job = this.queue.shift()!
      this.posted.get(worker)!.push(job)
      worker.postMessage(job.data, [job.data.buffer])
    }
  }

  /**
   * The worker to post the next job to: the least busy with room, or when every one is full, a
   * new one while there are fewer than `threads`. Each takes POSTED jobs at once, so that when it
   * answers one the next is already in its queue: otherwise it would wait for this thread to hand
   * it one, and this thread is often busy for milliseconds at a time (a directory, a hash, a
   * collection). A thread more starts only once blocks come faster than the threads make them
   * (BUSY_ANSWERS of them queued in a row): each holds 15-30 MiB, and a tree of many small files, whose walk is the bound,
   * never needs a second (100,000 tiny files with two threads, as on a 4-core runner: 145-166 MiB
   * at peak, against 131-136 with one).
   */
  private next(): Worker | undefined {
    let least: Worker | undefined
    let load = POSTED
    for (const [worker, jobs] of this.posted)
      if (jobs.length < load) [least, load] = [worker, jobs.length]
    if (least) return least
    const behind = this.busyAnswers >= BUSY_ANSWERS
    if (this.workers.size === 0 || (behind && this.workers.size < this.threads)) {
      this.busyAnswers = 0
      return this.spawn()
    }
    return undefined
  }

  private spawn(): Worker {
    const workerData: DeflateWorkerData = {
      module: libdeflateModule(),
      level: this.level,
      maxBlock: GZIP_BLOCK
    }
    const worker = new Worker(deflateWorkerSource, {
      eval: true,
      workerData,
      resourceLimits: WORKER_LIMITS
    })
    this.workers.add(worker)
    this.posted.set(worker, [])
    this.threadsStarted++
    worker.on('message', (result: DeflateResult) => {
      this.busyAnswers = result.queued ? this.busyAnswers + 1 : 0
      this.posted.get(worker)?.shift()?.resolve(result)
      this.dispatch()
    })
    worker.on('error', err => this.fail(messageOf(err)))
    worker.on('messageerror', err => this.fail(messageOf(err)))
    worker.on('exit', code => {
      this.workers.delete(worker)
      this.posted.delete(worker)
      if (!this.closing) this.fail(`the thread stopped (exit code ${code})`)
    })
    return worker
  }

  /** Ends every member under way or waiting with the first failure, and stops the threads. */
  private fail(why: string): void {
    if (!this.failure)
      this.failure = new LadingError(
        `gzip compression failed in a libdeflate worker thread: ${why}; ` +
          'if this repeats, build with compression: zstd and report it'
      )
    const jobs = [...[...this.posted.values()].flat(), ...this.queue]
    for (const posted of this.posted.values()) posted.length = 0
    this.queue.length = 0
    for (const job of jobs) job.reject(this.failure)
    for (const worker of this.workers) void worker.terminate()
  }
}
