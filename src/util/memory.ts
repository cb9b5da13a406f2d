/**
 * Keeps a run's memory flat while it streams hundreds of megabytes through Buffers.
 *
 * V8 frees a dead Buffer's memory only at a full collection, and starts one for Buffers alone once
 * about 64 MB of them have been allocated since the last. A build, a validation or an upload
 * allocates a few bytes of Buffers for every byte it moves (file reads, tar blocks, compressor
 * output), so without help that much dead Buffer memory sits in the process at any time. So every
 * RELIEF_BYTES moved (MemoryRelief.moved), Lading looks at its resident size and, above
 * RELIEF_RSS and grown since the last collection (or above RELIEF_HIGH), asks for another. Only
 * then: a collection costs the main thread time, and collecting on every look slowed builds
 * measurably (see the benchmark).
 *
 * The collector is reached through V8's `--expose-gc` flag, set at run time; where that is not
 * possible, relief is a no-op and V8's own schedule applies. Collections are started asynchronously:
 * V8 marks on its helper threads while the work goes on, which costs the build far less than
 * stopping for each one.
 */
import * as v8 from 'node:v8'
import * as vm from 'node:vm'

/** Bytes moved between looks at memory. */
export const RELIEF_BYTES = 16 * 1024 * 1024
/** The resident size above which a look at memory starts a collection. */
export const RELIEF_RSS = 104 * 1024 * 1024

type Gc = (opts?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async' }) => unknown

/** V8's collector, looked up once: reaching it sets a V8 flag for the whole process. */
let collect: (() => void) | null | undefined

function collector(): (() => void) | null {
  if (collect !== undefined) return collect
  try {
    let g = (globalThis as { gc?: Gc }).gc
    if (typeof g !== 'function') {
      v8.setFlagsFromString('--expose-gc')
      const fn: unknown = vm.runInNewContext('gc')
      g = typeof fn === 'function' ? (fn as Gc) : undefined
    }
    const gc = g
    // Asynchronous: V8 marks on its helper threads while this one goes on with the work.
    collect = gc
      ? () => {
          const p = gc({ type: 'major', execution: 'async' })
          if (p instanceof Promise) p.catch(() => {})
        }
      : null
  } catch {
    collect = null
  }
  return collect
}

/**
 * What resident memory must have grown by since the last collection (from the lowest it was seen
 * at since) before a look starts another. Memory that stays level holds little a collection
 * would free: what keeps it above RELIEF_RSS is then threads, code and live objects. Collecting at
 * every look above the mark cost a build of 100,000 small files a sixth of its time (2.4-2.5 s,
 * 2.05-2.15 s without); it held a build of two layers at once 2 MiB lower (138-140 MiB, 140-142).
 */
export const RELIEF_GROWTH = 256 * 1024

/**
 * The resident size above which every look starts a collection, grown or not: near the 150 MiB
 * a run should stay under, what little a collection frees counts. Builds of two layers at once
 * peaked at 142-145 MiB without it, 136-142 with it, as when every look collected.
 */
export const RELIEF_HIGH = 128 * 1024 * 1024

/**
 * The memory relief of one run: counts the bytes it moves through Buffers and, every RELIEF_BYTES,
 * starts a collection when the process is above `above` resident bytes and has grown by
 * RELIEF_GROWTH since the last collection, or is above `high`.
 */
export class MemoryRelief {
  private movedSince = 0
  /** The lowest resident size seen since the last collection. */
  private low = 0
  /** Collections asked for so far. */
  collections = 0

  constructor(
    private readonly above = RELIEF_RSS,
    private readonly high = RELIEF_HIGH
  ) {}

  /** Notes that `bytes` went through Buffers (read, compressed, hashed, sent). */
  moved(bytes: number): void {
    this.movedSince += bytes
    if (this.movedSince < RELIEF_BYTES) return
    this.movedSince = 0
    // Only when memory is high and growing: each collection costs the main thread time, most of
    // it for nothing while the dead Buffers are few.
    const rss = process.memoryUsage.rss()
    const due = this.collections === 0 || rss >= this.low + RELIEF_GROWTH || rss > this.high
    this.low = Math.min(this.low, rss)
    if (rss <= this.above || !due) return
    const c = collector()
    if (!c) return
    this.collections++
    this.low = rss
    c()
  }
}
