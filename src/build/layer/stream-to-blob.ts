/**
 * Runs a layer's bytes from a source through its stages (hashing, compressing, branches to the
 * validator's checks) into a temp file of the store, then commits the file under its digest. Every
 * stream is in one `pipeline`, whose first failure destroys them all; any failure removes the temp
 * file and ends in a LadingError.
 */
import { createWriteStream, type WriteStream } from 'node:fs'
import * as fs from 'node:fs/promises'
import { PassThrough, Transform, type Readable, type Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { HashingStream } from '../../oci/digest.js'
import type { BlobSink } from '../../oci/scan.js'
import { LadingError } from '../../util/errors.js'

export interface BlobStream {
  source: Readable
  stages: Transform[]
  /**
   * Work running beside the pipeline whose failure fails the blob too: what fills the source
   * (the tar writer), or what drains a branch of it (a tee's side).
   */
  concurrentWork: Array<Promise<unknown>>
  /** Stops the concurrent work once the pipeline failed, so that it does not wait forever. */
  stopConcurrentWork?: () => void
  /** The hash of what reaches the file: the blob's digest. */
  digest: HashingStream
  /** The error for a failure writing into or committing to the store. */
  storeError: (err: unknown) => LadingError
  /** The error for any other failure not already a LadingError; storeError when absent. */
  streamError?: (err: unknown) => LadingError
  /** Runs once everything has flowed; false drops the file instead of committing it. */
  accept?: () => Promise<boolean>
}

/**
 * Streams `source → stages → temp file`, then moves the file to its digest. The message comes from
 * where the failure began: a LadingError from anywhere first, then the store's file, then the rest.
 * Returns false when `accept` turned the result down.
 */
export async function streamToBlob(store: BlobSink, blob: BlobStream): Promise<boolean> {
  const tmp = store.tempPath()
  const file = createWriteStream(tmp)
  const chain: Array<Readable | Writable> = [blob.source, ...blob.stages, file]
  let origin: unknown
  // pipeline destroys every stream with the first error; the first to report it is where it began.
  for (const s of chain) s.once('error', () => (origin ??= s))
  const flowed = pipeline(chain as [Readable, ...Transform[], Writable]).catch((err: unknown) => {
    blob.stopConcurrentWork?.()
    throw err
  })
  const results = await Promise.allSettled([flowed, ...blob.concurrentWork])
  const errors = results.flatMap(r => (r.status === 'rejected' ? [r.reason as unknown] : []))
  if (errors.length) {
    await discard(file, tmp)
    const user = errors.find(e => e instanceof LadingError)
    if (user) throw user
    if (origin === file || !blob.streamError) throw blob.storeError(errors[0])
    throw blob.streamError(errors[0])
  }
  let accepted: boolean
  try {
    accepted = blob.accept ? await blob.accept() : true
  } catch (err) {
    await discard(file, tmp)
    throw err
  }
  if (!accepted) {
    await discard(file, tmp)
    return false
  }
  try {
    await store.commit(tmp, blob.digest.digest())
  } catch (err) {
    await discard(file, tmp)
    throw blob.storeError(err)
  }
  return true
}

/**
 * Removes the temp file once its stream has closed: a file still being opened when the pipeline
 * failed would otherwise be made again after its removal.
 */
async function discard(file: WriteStream, tmp: string): Promise<void> {
  if (!file.closed) {
    file.destroy()
    await new Promise<void>(resolve => file.once('close', () => resolve()))
  }
  await fs.rm(tmp, { force: true })
}

/**
 * A stage that also feeds what passes through to a side pipeline, waiting for it, so one read of
 * a stream serves two consumers with backpressure from both. `done` settles with the side; a
 * failure of the side destroys the stage, and so the main pipeline, too.
 */
export function tee(side: Array<Transform | Writable>): { stage: Transform; done: Promise<void> } {
  const head = new PassThrough()
  const done = pipeline([head, ...side] as unknown as [Readable, Writable])
  const stage = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (head.write(chunk)) cb(null, chunk)
      else head.once('drain', () => cb(null, chunk))
    },
    flush(cb) {
      head.end()
      done.then(() => cb(), cb)
    },
    destroy(err, cb) {
      // The side must not wait for input that will never come once the main pipeline failed.
      if (!head.writableFinished) head.destroy(err ?? new Error('stopped'))
      cb(err)
    }
  })
  done.catch((err: unknown) => stage.destroy(err as Error))
  return { stage, done }
}
