/**
 * The sha256 of a layer's tar with the files' bytes read and hashed on a worker thread: the main
 * thread walks the tree and writes the tar with placeholder bodies (tar-writer's deferBody), and
 * hands over, in the tar's order, the bytes it wrote (headers, padding) and, for each body, which
 * file and range to read in its place. Walking and tar-writing on one core, reading and hashing on
 * the other: on the benchmark's tree the diff pass took 15% less time (the main thread's walk and
 * tar-writing remain its bound). A tar of one batch (BATCH_BYTES) is hashed on the main thread
 * instead, by the same code: a thread costs about 0.1 s of CPU to start, which on 2 cores slowed
 * the rest of the run more than hashing a small app directory here. Used where only the digest is
 * wanted; a build reads and compresses the bytes on the main thread as before.
 */
import { Worker } from 'node:worker_threads'
import {
  rangeReader,
  RecipeReadError,
  type RecipeFailure,
  type TarRecipe
} from '../../codec/tar-recipe.js'
import type { LocatedInput } from './input-errors.js'
import { RecipeCutter, recipeError } from './tar-recipes.js'

/** A batch of the tar, in order: a recipe (codec/tar-recipe.ts) of BATCH_BYTES. */
type Batch = TarRecipe

type Answer = { ack: true } | { digest: string } | { failed: RecipeFailure }

/** Batches under way at once: bounds what waits for the worker, whatever the tree. */
const BATCHES_AHEAD = 4

/** Bytes of tar (written or referenced) per batch. */
const BATCH_BYTES = 4 * 1024 * 1024

/**
 * Hashes the pieces of each batch in order, reading file ranges with synchronous calls, and
 * answers each batch. A file read short of its range, or with bytes past its size, changed while
 * it was read. Runs on the worker, or on the main thread for a tar too small to be worth a thread
 * (one batch); handed to the worker as source text, so it names nothing outside itself.
 */
function batchHasher(ranges: typeof rangeReader): { batch(msg: Batch): Answer; end(): Answer } {
  const { createHash } = process.getBuiltinModule('node:crypto')
  const hash = createHash('sha256')
  // A piece is at most 1 MiB; the byte more lets the last read of a file tell its end too.
  const buf = Buffer.allocUnsafe(1024 * 1024 + 1)
  const reader = ranges()
  const close = () => reader.close()
  const batch = (msg: Batch): Answer => {
    const bytes = new Uint8Array(msg.bytes)
    const pieces = new Float64Array(msg.pieces)
    let path = ''
    try {
      for (let i = 0; i < pieces.length; i += 4) {
        const [which, a, b, last] = [pieces[i], pieces[i + 1], pieces[i + 2], pieces[i + 3]]
        if (which < 0) {
          hash.update(bytes.subarray(a, b))
          continue
        }
        path = msg.paths[which]
        if (!reader.read(path, a, b, last === 1, buf, 0)) {
          close()
          return { failed: { path, changed: true, message: 'changed' } }
        }
        hash.update(buf.subarray(0, b))
      }
      return { ack: true }
    } catch (err) {
      close()
      const e = err as NodeJS.ErrnoException
      return { failed: { path, changed: false, code: e.code, message: String(e.message) } }
    }
  }
  const end = (): Answer => {
    close()
    return { digest: 'sha256:' + hash.digest('hex') }
  }
  return { batch, end }
}

/** The worker: batchHasher's answers to the main thread's batches, until one fails. */
function hashWorkerMain(hasher: typeof batchHasher, ranges: typeof rangeReader): void {
  const { parentPort } = process.getBuiltinModule('node:worker_threads')
  const { batch, end } = hasher(ranges)
  let failed = false
  parentPort!.on('message', (msg: Batch | { end: true }) => {
    if (failed) return
    const answer = 'end' in msg ? end() : batch(msg)
    failed = 'failed' in answer
    parentPort!.postMessage(answer)
  })
}

const workerSource = `(${hashWorkerMain.toString()})(${batchHasher.toString()}, ${rangeReader.toString()})`

let threadsStarted = 0

/** Hashing threads started so far in this process (tests tell the two ways apart by it). */
export function hashThreadsStarted(): number {
  return threadsStarted
}

/** The pieces of a tar fed in order; `digest` once it has all been fed. */
export class TreeHasher {
  /** Started with the first batch sent: a tar of one batch is hashed on this thread instead. */
  private worker: Worker | undefined
  private readonly cutter = new RecipeCutter(BATCH_BYTES)
  private outstanding = 0
  private wake: (() => void) | undefined
  private failure: Error | undefined
  private result: ((answer: Answer) => void) | undefined

  constructor(private readonly input: LocatedInput) {}

  private started(): Worker {
    if (this.worker) return this.worker
    const worker = new Worker(workerSource, {
      eval: true,
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 }
    })
    worker.on('message', (a: Answer) => this.answer(a))
    worker.on('error', err => this.fail(err))
    worker.on('exit', code => {
      if (!this.result && !this.failure) this.fail(new Error(`the thread stopped (${code})`))
    })
    this.worker = worker
    threadsStarted++
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
    for (const { recipe } of this.cutter.ready.splice(0)) await this.send(recipe)
  }

  /** The tar's sha256, once every chunk has been given. */
  async digest(): Promise<string> {
    // A tar of one batch costs less to hash here than a thread costs to start (0.1 s of CPU).
    const rest = this.cutter.rest()?.recipe
    if (!this.worker) return this.hashHere(rest)
    if (rest) await this.send(rest)
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

  private hashHere(rest: Batch | undefined): string {
    const { batch, end } = batchHasher(rangeReader)
    const answer = rest ? batch(rest) : { ack: true as const }
    const last = 'failed' in answer ? answer : end()
    if ('digest' in last) return last.digest
    this.answer(last)
    throw this.failure ?? new Error('the tar could not be hashed')
  }

  private async send(batch: Batch): Promise<void> {
    while (this.outstanding >= BATCHES_AHEAD && !this.failure) await this.waitForAck()
    if (this.failure) throw this.failure
    const worker = this.started()
    worker.postMessage(batch, [batch.bytes, batch.pieces])
    this.outstanding++
  }

  private waitForAck(): Promise<void> {
    return new Promise(resolve => (this.wake = resolve))
  }

  private answer(a: Answer): void {
    if ('ack' in a) this.outstanding--
    else if ('failed' in a) this.fail(recipeError(this.input, new RecipeReadError(a.failed)))
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
