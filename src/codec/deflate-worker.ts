/**
 * The code each libdeflate worker thread runs. It is handed to `new Worker(..., { eval: true })`
 * as source text, so that the bundle needs no second entry file: the function below must name
 * nothing outside itself (no import, no helper), only globals and `process.getBuiltinModule`.
 */

import { fillRecipe, rangeReader, type RecipeFailure, type TarRecipe } from './tar-recipe.js'

/** What a worker is started with (its workerData). */
export interface DeflateWorkerData {
  /** libdeflate.wasm, compiled once by the main thread and shared with every worker. */
  module: WebAssembly.Module
  level: number
  /** The largest block it will be given, for the buffers it allocates once. */
  maxBlock: number
}

/** libdeflate's exports that the worker calls (scripts/build-libdeflate-wasm.sh exports them). */
interface LibdeflateExports {
  memory: WebAssembly.Memory
  malloc(size: number): number
  libdeflate_alloc_compressor(level: number): number
  libdeflate_deflate_compress_bound(compressor: number, size: number): number
  libdeflate_deflate_compress(
    compressor: number,
    input: number,
    size: number,
    output: number,
    room: number
  ): number
}

/**
 * A block handed to a worker: the first `length` bytes of `buffer`, which moves in and comes back
 * holding the member, so a worker allocates nothing per block (memory a thread allocates and
 * another frees stays in the first thread's malloc arena). Or, with `recipe`, a block the worker
 * completes itself, reading its files into `buffer` (the recipe's block): it comes back with the
 * block's bytes first (for the tar's digest, taken in order by the main thread) and the member
 * right after them.
 */
export interface DeflateJob {
  buffer: ArrayBuffer
  length: number
  /** The block's CRC-32, for the member's trailer: taken by the main thread, which has time. */
  crc: number
  /** How to make the block; its CRC-32 is then taken by the worker (`crc` is not read). */
  recipe?: TarRecipe
}

/**
 * A worker's answer: the job's buffer, whose first `size` bytes are now the gzip member (for a
 * recipe, the `size` bytes after the block's). A recipe whose file could not be read answers
 * `failed`, and the worker goes on.
 */
export interface DeflateResult {
  buffer: ArrayBuffer
  size: number
  failed?: RecipeFailure
  /**
   * From a worker: whether this job was in its queue already when it answered the one before,
   * so that it waited for nothing. The pool starts a thread more only when its threads never wait.
   */
  queued?: boolean
}

/** Makes one block's gzip member in place, in the job's buffer: the worker's answer to it. */
export type MakeMember = (job: DeflateJob) => DeflateResult

/**
 * libdeflate at `level`, instantiated once, as a maker of members. The same function runs on each
 * worker thread and, for a layer of a single small block, on the main thread (a thread costs more
 * to start than such a block to compress); so it too names nothing outside itself.
 */
export function libdeflateMembers(
  module: WebAssembly.Module,
  level: number,
  maxBlock: number,
  ranges: typeof rangeReader,
  fill: typeof fillRecipe
): MakeMember {
  const { crc32 } = process.getBuiltinModule('node:zlib')
  const wasm = new WebAssembly.Instance(module, {}).exports as unknown as LibdeflateExports
  const compressor = wasm.libdeflate_alloc_compressor(level)
  if (!compressor) throw new Error(`libdeflate has no compression level ${level}`)
  const room = wasm.libdeflate_deflate_compress_bound(compressor, maxBlock)
  const input = wasm.malloc(maxBlock)
  const output = wasm.malloc(room)
  if (!input || !output) throw new Error('libdeflate could not allocate its buffers')
  const reader = ranges()
  // XFL as zlib sets it: 4 for the fastest level, 2 for the slowest, else 0.
  const xfl = level <= 1 ? 4 : level >= 9 ? 2 : 0
  // The memory's buffer is replaced whenever it grows: take it afresh each time.
  const memory = () => wasm.memory.buffer
  return ({ buffer, length, crc, recipe }: DeflateJob): DeflateResult => {
    if (length > maxBlock) throw new Error(`a block of ${length} bytes is too large`)
    let at = 0
    if (recipe) {
      const failed = fill(recipe, reader)
      if (failed) return { buffer, size: 0, failed }
      const block = new Uint8Array(buffer, 0, length)
      crc = crc32(block)
      at = length
    }
    new Uint8Array(memory(), input, length).set(new Uint8Array(buffer, 0, length))
    // Room for the member in the job's buffer too: libdeflate answers 0 when it would not fit.
    const avail = Math.min(room, buffer.byteLength - at - 18)
    const deflated = wasm.libdeflate_deflate_compress(compressor, input, length, output, avail)
    if (deflated === 0) throw new Error('libdeflate ran out of output room')
    const member = new Uint8Array(buffer, at, 10 + deflated + 8)
    // RFC 1952: magic, CM deflate, no flags, MTIME 0, XFL, OS 255 (unknown, as Go writes it).
    member.set([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 0xff])
    member.set(new Uint8Array(memory(), output, deflated), 10)
    const trailer = new DataView(buffer, at + 10 + deflated, 8)
    trailer.setUint32(0, crc, true)
    trailer.setUint32(4, length, true)
    return { buffer, size: member.length }
  }
}

/**
 * Answers each block with its whole gzip member, one at a time. Any failure is thrown: the thread
 * ends, and the pool fails every member still under way with it.
 */
function deflateWorkerMain(
  members: typeof libdeflateMembers,
  ranges: typeof rangeReader,
  fill: typeof fillRecipe
): void {
  const { parentPort, workerData, receiveMessageOnPort } =
    process.getBuiltinModule('node:worker_threads')
  const { module, level, maxBlock } = workerData as DeflateWorkerData
  const make = members(module, level, maxBlock, ranges, fill)
  const port = parentPort!
  // A job that arrives while the thread is idle comes as an event; each answered, the jobs that
  // came meanwhile are taken from the queue at once, and said to have been queued.
  port.on('message', (first: DeflateJob) => {
    let job = first
    let queued = false
    for (;;) {
      port.postMessage({ ...make(job), queued }, [job.buffer])
      const next = receiveMessageOnPort(port)
      if (!next) return
      job = next.message as DeflateJob
      queued = true
    }
  })
}

/** The worker's source text. */
export const deflateWorkerSource = `(${deflateWorkerMain.toString()})(${libdeflateMembers.toString()}, ${rangeReader.toString()}, ${fillRecipe.toString()})`
