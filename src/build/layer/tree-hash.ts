/**
 * The sha256 of a layer's tar with the files' bytes read and hashed on a worker thread: the main
 * thread walks the tree and writes the tar with placeholder bodies (tar-writer's deferBody), cut
 * into 1 MiB recipes (tar-recipes.ts) that hold the bytes it wrote where they go; the worker reads
 * each body's file into its place and hashes the batch, in the tar's order, and gives the buffer
 * back. Walking and tar-writing on one core, reading and hashing on the other: on the benchmark's
 * tree the diff pass took 15% less time (the main thread's walk and tar-writing remain its bound).
 * A tar of up to HELD_BATCHES batches is hashed on the main thread instead, by the same code: a
 * thread costs about 0.1 s of CPU to start, which on 2 cores slowed the rest of the run more than
 * hashing a small app directory here. Used where only the digest is wanted; a build has its
 * recipes made and compressed by the libdeflate threads instead.
 */
import { Worker } from 'node:worker_threads'
import {
  fillRecipe,
  rangeReader,
  type RecipeFailure,
  type TarRecipe
} from '../../codec/tar-recipe.js'
import type { LocatedInput } from './input-errors.js'
import { WORKER_LIMITS } from '../../codec/threads.js'
import { RecipeCutter, recipeFailureError } from './tar-recipes.js'

/** A batch of the tar, in order: a recipe (codec/tar-recipe.ts) of `length` bytes. */
type Batch = TarRecipe & { length: number }

/** A batch hashed (its block given back to be filled again), the digest, or a failure. */
type Answer = { ack: ArrayBuffer } | { digest: string } | { failed: RecipeFailure }

/** Batches under way at once: bounds what waits for the worker, whatever the tree. */
const BATCHES_AHEAD = 4

/**
 * Batches under way at once before the worker's first answer, while it may still be starting:
 * the walk goes on meanwhile. A batch not yet filled holds its headers only (a few pages).
 */
const BATCHES_AHEAD_AT_START = 16

/** Bytes of tar (written or referenced) per batch. */
const BATCH_BYTES = 1024 * 1024

/** Batches held before a thread is started: a tar of no more is hashed on the main thread. */
const HELD_BATCHES = 4

/**
 * Hashes each batch once its files are read into its block, and answers it with the block. A
 * file read short of its range, or with bytes past its size, changed while it was read. Runs on
 * the worker, or on the main thread for a tar too small to be worth a thread; handed to the
 * worker as source text, so it names nothing outside itself.
 */
function batchHasher(
  ranges: typeof rangeReader,
  fill: typeof fillRecipe
): { batch(msg: Batch): Answer; end(): Answer } {
  const { createHash } = process.getBuiltinModule('node:crypto')
  const hash = createHash('sha256')
  const reader = ranges()
  const batch = (msg: Batch): Answer => {
    const failed = fill(msg, reader)
    if (failed) return { failed }
    hash.update(new Uint8Array(msg.block, 0, msg.length))
    return { ack: msg.block }
  }
  const end = (): Answer => ({ digest: 'sha256:' + hash.digest('hex') })
  return { batch, end }
}

/** The worker: batchHasher's answers to the main thread's batches, until one fails. */
function hashWorkerMain(
  hasher: typeof batchHasher,
  ranges: typeof rangeReader,
  fill: typeof fillRecipe
): void {
  const { parentPort } = process.getBuiltinModule('node:worker_threads')
  const { batch, end } = hasher(ranges, fill)
  let failed = false
  parentPort!.on('message', (msg: Batch | { end: true }) => {
    if (failed) return
    const answer = 'end' in msg ? end() : batch(msg)
    failed = 'failed' in answer
    parentPort!.postMessage(answer, 'ack' in answer ? [answer.ack] : [])
  })
}

const workerSource = `(${hashWorkerMain.toString()})(${batchHasher.toString()}, ${rangeReader.toString()}, ${fillRecipe.toString()})`

let threadsStarted = 0

/** Hashing threads started so far in this process (tests tell the two ways apart by it). */
export function hashThreadsStarted(): number {
  return threadsStarted
}

function hashWorker(): Worker {
  threadsStarted++
  return new Worker(workerSource, { eval: true, resourceLimits: WORKER_LIMITS })
}

/**
 * A run's hashing thread started before any pass needs one (`warm`), while the run does its
 * other first things: a thread takes 70-150 ms to start, which a pass otherwise waits out with its
 * first batches cut and the tree's walk stopped. The first pass that needs a thread takes it; the
 * others start their own. `close` stops it if no pass took it.
 */
export class HashThreads {
  private ready: { worker: Worker; gone: () => void } | undefined

  warm(): void {
    if (this.ready) return
    const worker = hashWorker()
    // Until a pass takes it, a thread that failed to start is simply not there to take.
    const gone = () => {
      if (this.ready?.worker === worker) this.ready = undefined
    }
    worker.on('error', gone)
    worker.on('exit', gone)
    this.ready = { worker, gone }
  }

  /** The warm thread, now the caller's (with no listener of this one's left), or a new one. */
  take(): Worker {
    const ready = this.ready
    this.ready = undefined
    if (!ready) return hashWorker()
    ready.worker.off('error', ready.gone)
    ready.worker.off('exit', ready.gone)
    return ready.worker
  }

  async close(): Promise<void> {
    const ready = this.ready
    this.ready = undefined
    await ready?.worker.terminate()
  }
}

/** The pieces of a tar fed in order; `digest` once it has all been fed. */
export class TreeHasher {
  /** Started once more than HELD_BATCHES were cut: a smaller tar is hashed on this thread. */
  private worker: Worker | undefined
  /** Blocks back from the worker, filled again: BATCHES_AHEAD + 1 of them are kept. */
  private readonly spare: ArrayBuffer[] = []
  private readonly cutter = new RecipeCutter(
    BATCH_BYTES,
    () => this.spare.pop() ?? new ArrayBuffer(BATCH_BYTES + 1)
  )
  /** Batches cut before the thread starts, hashed here if the tar ends first. */
  private readonly held: Batch[] = []
  private outstanding = 0
  /** Whether the worker has answered once: it has started, and the batches ahead are fewer. */
  private answered = false
  private wake: (() => void) | undefined
  private failure: Error | undefined
  private result: ((answer: Answer) => void) | undefined

  constructor(
    private readonly input: LocatedInput,
    private readonly threads?: HashThreads
  ) {}

  private started(): Worker {
    if (this.worker) return this.worker
    const worker = this.threads ? this.threads.take() : hashWorker()
    worker.on('message', (a: Answer) => this.answer(a))
    worker.on('error', err => this.fail(err))
    worker.on('exit', code => {
      if (!this.result && !this.failure) this.fail(new Error(`the thread stopped (${code})`))
    })
    this.worker = worker
    return worker
  }

  /** A file body the tar will hold next (in the order of deferBody). */
  deferred(abs: string, size: number): void {
    this.cutter.deferred(abs, size)
  }

  /** The next chunk of the tar: bytes it holds, or a view of PLACEHOLDER standing for a body. */
  async chunk(c: Buffer): Promise<void> {
    if (this.failure) throw this.failure
    this.cutter.chunk(c)
    for (const { recipe, length } of this.cutter.ready.splice(0))
      await this.send({ ...recipe, length })
  }

  /** The tar's sha256, once every chunk has been given. */
  async digest(): Promise<string> {
    // A small tar costs less to hash here than a thread costs to start (0.1 s of CPU).
    const cut = this.cutter.rest()
    if (cut) await this.send({ ...cut.recipe, length: cut.length }, true)
    if (!this.worker) return this.hashHere()
    while (this.outstanding > 0 && !this.failure) await this.waitForAck()
    if (this.failure) throw this.failure
    const worker = this.worker
    const answer = await new Promise<Answer>(resolve => {
      this.result = resolve
      worker.postMessage({ end: true })
    })
    await this.stop()
    if ('digest' in answer) return answer.digest
    throw this.failure ?? new Error('the hashing thread answered nothing')
  }

  async stop(): Promise<void> {
    await this.worker?.terminate()
  }

  private hashHere(): string {
    const { batch, end } = batchHasher(rangeReader, fillRecipe)
    for (const b of this.held.splice(0)) {
      const answer = batch(b)
      if ('failed' in answer) {
        this.answer(answer)
        throw this.failure ?? new Error('the tar could not be hashed')
      }
    }
    const last = end()
    if ('digest' in last) return last.digest
    throw new Error('the tar could not be hashed')
  }

  /** Sends a batch to the thread, started once more than HELD_BATCHES were cut; `last` ends. */
  private async send(batch: Batch, last = false): Promise<void> {
    if (!this.worker) {
      this.held.push(batch)
      if (last || this.held.length <= HELD_BATCHES) return
    }
    const worker = this.started()
    for (const b of this.held.length ? this.held.splice(0) : [batch]) {
      while (this.outstanding >= this.ahead() && !this.failure) await this.waitForAck()
      if (this.failure) throw this.failure
      worker.postMessage(b, [b.block, b.files])
      this.outstanding++
    }
  }

  private ahead(): number {
    return this.answered ? BATCHES_AHEAD : BATCHES_AHEAD_AT_START
  }

  private waitForAck(): Promise<void> {
    return new Promise(resolve => (this.wake = resolve))
  }

  private answer(a: Answer): void {
    if ('ack' in a) {
      this.answered = true
      this.outstanding--
      // The blocks of the start's extra batches are left to the collector.
      if (this.spare.length <= BATCHES_AHEAD) this.spare.push(a.ack)
    } else if ('failed' in a) this.fail(recipeFailureError(this.input, a.failed))
    else this.result?.(a)
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }

  private fail(err: Error): void {
    this.failure ??= err
    this.result?.({ failed: { path: '', changed: false, message: err.message } })
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }
}
