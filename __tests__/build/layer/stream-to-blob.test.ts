/**
 * streamToBlob, the pipeline every built layer goes through: whichever stream fails (the source,
 * any stage, a tee's side, the temp file, the commit) or whatever runs beside it, the run gets one
 * clear LadingError and the store keeps no temp file and no blob.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as os from 'node:os'
import * as path from 'node:path'
import { createHash } from 'node:crypto'
import { PassThrough, Readable, Transform, Writable } from 'node:stream'
import { Layout } from '../../../src/transports/layout.js'
import { streamToBlob, tee, type BlobStream } from '../../../src/build/layer/stream-to-blob.js'
import { HashingStream } from '../../../src/oci/digest.js'
import { LadingError } from '../../../src/util/errors.js'
import { storesUnder } from '../../helpers/layer-build.js'

let work: string

const DATA = Buffer.alloc(3 * 1024 * 1024, 5)

/** The data in 64 KiB chunks; with `failAt`, an error after that many. */
function source(failAt?: number): Readable {
  let sent = 0
  return new Readable({
    read() {
      if (sent === failAt) return this.destroy(new Error('source broke'))
      const at = sent * 65536
      sent++
      this.push(at < DATA.length ? DATA.subarray(at, at + 65536) : null)
    }
  })
}

/** A stage that fails on its `n`th chunk, or at its end when `n` is 'flush'. */
function failingStage(n: number | 'flush'): Transform {
  let seen = 0
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (++seen === n) cb(new Error('stage broke'))
      else cb(null, chunk)
    },
    flush(cb) {
      cb(n === 'flush' ? new Error('stage broke at its end') : null)
    }
  })
}

const newStore = storesUnder(() => work)

async function leftovers(store: Layout): Promise<string[]> {
  return [
    ...(await fs.readdir(path.join(store.root, '.lading-tmp'))),
    ...(await fs.readdir(path.join(store.root, 'blobs', 'sha256')))
  ]
}

/** A plan of source → pass → digest → pass, with errors named by where they were made. */
function blobStream(over: Partial<BlobStream> & { stages?: Transform[] } = {}): BlobStream {
  const digest = new HashingStream()
  return {
    source: source(),
    stages: [new PassThrough(), digest, new PassThrough()],
    concurrentWork: [],
    digest,
    storeError: err => new LadingError(`store: ${(err as Error).message}`),
    streamError: err => new LadingError(`stream: ${(err as Error).message}`),
    ...over
  }
}

async function expectFailure(store: Layout, plan: BlobStream, message: string): Promise<void> {
  const err = await streamToBlob(store, plan).then(
    () => undefined,
    (e: unknown) => e
  )
  expect(err).toBeInstanceOf(LadingError)
  expect((err as Error).message).toBe(message)
  expect(await leftovers(store)).toEqual([])
}

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'lading-stream-'))
})

afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true })
})

describe('streamToBlob', () => {
  it('stores what flowed under its digest', async () => {
    const store = await newStore()
    const plan = blobStream()
    expect(await streamToBlob(store, plan)).toBe(true)
    const digest = 'sha256:' + createHash('sha256').update(DATA).digest('hex')
    expect(plan.digest.digest()).toBe(digest)
    expect((await fs.readFile(store.path(digest))).equals(DATA)).toBe(true)
    expect(await fs.readdir(path.join(store.root, '.lading-tmp'))).toEqual([])
  })

  it.each([0, 1, 20])('fails cleanly when the source fails after %i chunks', async n => {
    await expectFailure(await newStore(), blobStream({ source: source(n) }), 'stream: source broke')
  })

  it.each([0, 1, 2])('fails cleanly when stage %i fails on its first chunk', async i => {
    const plan = blobStream()
    plan.stages[i] = failingStage(1)
    await expectFailure(await newStore(), plan, 'stream: stage broke')
  })

  it.each([0, 1, 2])('fails cleanly when stage %i fails halfway or at its end', async i => {
    const halfway = blobStream()
    halfway.stages[i] = failingStage(24)
    await expectFailure(await newStore(), halfway, 'stream: stage broke')
    const atEnd = blobStream()
    atEnd.stages[i] = failingStage('flush')
    await expectFailure(await newStore(), atEnd, 'stream: stage broke at its end')
  })

  it('fails cleanly when the side of a tee fails, and when the main line fails after a tee', async () => {
    const sideFails = tee([failingStage(3), new Writable({ write: (_c, _e, cb) => cb() })])
    await expectFailure(
      await newStore(),
      blobStream({
        stages: [sideFails.stage, new PassThrough()],
        concurrentWork: [sideFails.done]
      }),
      'stream: stage broke'
    )
    const branch = tee([new Writable({ write: (_c, _e, cb) => cb() })])
    await expectFailure(
      await newStore(),
      blobStream({ stages: [branch.stage, failingStage(5)], concurrentWork: [branch.done] }),
      'stream: stage broke'
    )
  })

  it('fails cleanly with the store error when the temp file cannot be written', async () => {
    const store = await newStore()
    store.tempPath = () => path.join(store.root, 'no-such-dir', 'blob')
    await expectFailure(
      store,
      blobStream(),
      `store: ENOENT: no such file or directory, open '${store.root}/no-such-dir/blob'`
    )
  })

  it('fails cleanly with the store error when the commit fails', async () => {
    const store = await newStore()
    store.commit = () => Promise.reject(new Error('disk full'))
    await expectFailure(store, blobStream(), 'store: disk full')
  })

  it('stops the work beside it when the pipeline fails, and reports a LadingError from it first', async () => {
    let stop!: (err: Error) => void
    const beside = new Promise<void>((_resolve, reject) => {
      stop = reject
    })
    const plan = blobStream({
      concurrentWork: [beside],
      stopConcurrentWork: () => stop(new LadingError('the work beside was stopped'))
    })
    plan.stages[1] = failingStage(2)
    await expectFailure(await newStore(), plan, 'the work beside was stopped')
  })

  it('fails cleanly when the work beside it fails', async () => {
    await expectFailure(
      await newStore(),
      blobStream({ concurrentWork: [Promise.reject(new Error('walker broke'))] }),
      'stream: walker broke'
    )
  })

  it('drops the file when accept says no or throws', async () => {
    const store = await newStore()
    expect(await streamToBlob(store, blobStream({ accept: () => Promise.resolve(false) }))).toBe(
      false
    )
    expect(await leftovers(store)).toEqual([])
    await expectFailure(
      store,
      blobStream({ accept: () => Promise.reject(new LadingError('not a tar')) }),
      'not a tar'
    )
  })
})
