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
import { changedWhileRead, fileSystemError, type LocatedInput } from './input-errors.js'
import { PLACEHOLDER } from './tar-writer.js'

/**
 * A batch of the tar, in order: `pieces` holds, four numbers a piece, either -1, FROM, TO, 0 (the
 * bytes FROM..TO of `bytes`) or I, AT, LENGTH, LAST (LENGTH bytes at AT of the file `paths[I]`,
 * LAST 1 when they end it). Flat numbers and one string array: cheap to send, no object a piece.
 */
interface Batch {
  bytes: ArrayBuffer
  pieces: ArrayBuffer
  paths: string[]
}

type Answer =
  | { ack: true }
  | { digest: string }
  | { failed: { path: string; changed: boolean; code?: string; message: string } }

/** Batches under way at once: bounds what waits for the worker, whatever the tree. */
const BATCHES_AHEAD = 4

/** Bytes of tar (written or referenced) per batch. */
const BATCH_BYTES = 4 * 1024 * 1024

/** Room for the bytes written (headers, padding) of a batch: full, it is sent. */
const BATCH_WRITTEN = 256 * 1024

/**
 * Hashes the pieces of each batch in order, reading file ranges with synchronous calls, and
 * answers each batch. A file read short of its range, or with bytes past its size, changed while
 * it was read. Runs on the worker, or on the main thread for a tar too small to be worth a thread
 * (one batch); handed to the worker as source text, so it names nothing outside itself.
 */
function batchHasher(): { batch(msg: Batch): Answer; end(): Answer } {
  const fs = process.getBuiltinModule('node:fs')
  const { createHash } = process.getBuiltinModule('node:crypto')
  const hash = createHash('sha256')
  // A piece is at most 1 MiB; the byte more lets the last read of a file tell its end too.
  const buf = Buffer.allocUnsafe(1024 * 1024 + 1)
  let fd = -1
  let open = ''
  const close = () => {
    if (fd >= 0) fs.closeSync(fd)
    fd = -1
    open = ''
  }
  const readRange = (path: string, at: number, length: number, last: boolean) => {
    if (open !== path) {
      close()
      fd = fs.openSync(path, 'r')
      open = path
    }
    let pos = at
    let left = length
    // Whether the file is known to end where its size said: a read asked for one byte more than
    // was left got exactly what was left. Else one more read tells it.
    let ended = false
    while (left > 0) {
      const want = last && left < buf.length ? left + 1 : Math.min(buf.length, left)
      const n = fs.readSync(fd, buf, 0, want, pos)
      if (n === 0) return false
      if (n > left) {
        close()
        return false
      }
      ended = want > left && n === left
      hash.update(buf.subarray(0, n))
      pos += n
      left -= n
    }
    if (!last) return true
    const grew = !ended && fs.readSync(fd, buf, 0, 1, pos) !== 0
    close()
    return !grew
  }
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
        if (!readRange(path, a, b, last === 1)) {
          close()
          return { failed: { path, changed: true, message: 'changed' } }
        }
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
function hashWorkerMain(hasher: typeof batchHasher): void {
  const { parentPort } = process.getBuiltinModule('node:worker_threads')
  const { batch, end } = hasher()
  let failed = false
  parentPort!.on('message', (msg: Batch | { end: true }) => {
    if (failed) return
    const answer = 'end' in msg ? end() : batch(msg)
    failed = 'failed' in answer
    parentPort!.postMessage(answer)
  })
}

const workerSource = `(${hashWorkerMain.toString()})(${batchHasher.toString()})`

let threadsStarted = 0

/** Hashing threads started so far in this process (tests tell the two ways apart by it). */
export function hashThreadsStarted(): number {
  return threadsStarted
}

/** The pieces of a tar fed in order; `digest` once it has all been fed. */
export class TreeHasher {
  /** Started with the first batch sent: a tar of one batch is hashed on this thread instead. */
  private worker: Worker | undefined
  private readonly bodies: Array<{ abs: string; size: number; done: number }> = []
  private bytes = Buffer.allocUnsafe(BATCH_WRITTEN)
  private writtenBytes = 0
  private pieces: number[] = []
  private paths: string[] = []
  private batchBytes = 0
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
    this.bodies.push({ abs, size, done: 0 })
  }

  /** The next chunk of the tar: bytes it holds, or a view of PLACEHOLDER standing for a body. */
  async chunk(c: Buffer): Promise<void> {
    if (this.failure) throw this.failure
    if (c.buffer === PLACEHOLDER.buffer) this.body(c.length)
    else {
      if (this.writtenBytes + c.length > this.bytes.length) {
        await this.send()
        if (c.length > this.bytes.length) this.bytes = Buffer.allocUnsafe(c.length)
      }
      const from = this.writtenBytes
      c.copy(this.bytes, from)
      this.writtenBytes += c.length
      const n = this.pieces.length
      // Bytes right after bytes (a header after padding) extend the piece before.
      if (n && this.pieces[n - 4] === -1 && this.pieces[n - 2] === from)
        this.pieces[n - 2] = this.writtenBytes
      else this.pieces.push(-1, from, this.writtenBytes, 0)
    }
    this.batchBytes += c.length
    if (this.batchBytes >= BATCH_BYTES) await this.send()
  }

  /** The tar's sha256, once every chunk has been given. */
  async digest(): Promise<string> {
    // A tar of one batch costs less to hash here than a thread costs to start (0.1 s of CPU).
    if (!this.worker) return this.hashHere()
    await this.send()
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
    const { batch, end } = batchHasher()
    const answer = this.pieces.length ? batch(this.take()) : { ack: true as const }
    const last = 'failed' in answer ? answer : end()
    if ('digest' in last) return last.digest
    this.answer(last)
    throw this.failure ?? new Error('the tar could not be hashed')
  }

  /** The batch gathered so far; the next one starts empty. */
  private take(): Batch {
    // The bytes' buffer may move to the worker: the next batch takes a new one.
    const batch: Batch = {
      bytes: this.bytes.buffer as ArrayBuffer,
      pieces: new Float64Array(this.pieces).buffer,
      paths: this.paths
    }
    this.bytes = Buffer.allocUnsafe(BATCH_WRITTEN)
    this.pieces = []
    this.paths = []
    this.writtenBytes = 0
    this.batchBytes = 0
    return batch
  }

  private body(length: number): void {
    const b = this.bodies[0]
    if (!b) throw new Error('a file body came with no file to read it from')
    const last = b.done + length === b.size
    if (this.paths[this.paths.length - 1] !== b.abs) this.paths.push(b.abs)
    this.pieces.push(this.paths.length - 1, b.done, length, last ? 1 : 0)
    b.done += length
    if (last) this.bodies.shift()
  }

  private async send(): Promise<void> {
    if (!this.pieces.length) return
    while (this.outstanding >= BATCHES_AHEAD && !this.failure) await this.waitForAck()
    if (this.failure) throw this.failure
    const worker = this.started()
    const batch = this.take()
    worker.postMessage(batch, [batch.bytes, batch.pieces])
    this.outstanding++
  }

  private waitForAck(): Promise<void> {
    return new Promise(resolve => (this.wake = resolve))
  }

  private answer(a: Answer): void {
    if ('ack' in a) this.outstanding--
    else if ('failed' in a) {
      const { path, changed, code, message } = a.failed
      const cause = Object.assign(new Error(message), code ? { code } : {})
      this.fail(
        changed ? changedWhileRead(this.input, path) : fileSystemError(this.input, path, cause)
      )
    } else this.result?.(a)
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
