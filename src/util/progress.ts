/**
 * Progress of long byte work (a layer being built, a blob being uploaded), told through a callback
 * so the build and the registry know nothing of where it is shown. Reports are throttled: work that
 * ends within a few seconds says nothing, longer work says how far it is every few seconds.
 */
import { Transform } from 'node:stream'

export interface ProgressTask {
  /** `n` more bytes done. */
  advance(n: number): void
}

/** Starts reporting on one piece of work; `total` bytes when known beforehand. */
export type StartProgress = (what: string, total?: number) => ProgressTask

/** How long work runs before its first report, and then between reports. */
export const PROGRESS_QUIET_MS = 5000
export const PROGRESS_EVERY_MS = 5000

export interface ProgressOptions {
  /** Milliseconds on a monotonic clock; injected by tests. */
  now?: () => number
  quietMs?: number
  everyMs?: number
}

/**
 * Progress told to `report` as lines. Checked as bytes arrive rather than on a timer, so nothing is
 * left running when the work ends or fails; work that stalls says nothing until it moves again
 * (the registry's rate watch is what catches a stall).
 */
export function throttledProgress(
  report: (line: string) => void,
  opts: ProgressOptions = {}
): StartProgress {
  const now = opts.now ?? (() => performance.now())
  const quiet = opts.quietMs ?? PROGRESS_QUIET_MS
  const every = opts.everyMs ?? PROGRESS_EVERY_MS
  return (what, total) => {
    const start = now()
    let next = start + quiet
    let done = 0
    return {
      advance(n) {
        done += n
        const t = now()
        if (t < next) return
        next = t + every
        report(progressLine(what, done, total, t - start))
      }
    }
  }
}

/** `layer dist: 1.2 GiB of 5.0 GiB (24%), 80.0 MiB/s`. */
export function progressLine(what: string, done: number, total: number | undefined, ms: number) {
  const rate = ms > 0 ? humanSize(Math.round((done * 1000) / ms)) : '?'
  const of =
    total === undefined
      ? ' so far'
      : ` of ${humanSize(total)} (${total > 0 ? Math.floor((done * 100) / total) : 100}%)`
  return `${what}: ${humanSize(done)}${of}, ${rate}/s`
}

/** A stage that counts what passes through it into `task`. */
export function countingStage(task: ProgressTask): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      task.advance(chunk.length)
      cb(null, chunk)
    }
  })
}

export function humanSize(n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${v.toFixed(1)} ${units[i]}`
}

/** `850 ms`, `12.3 s`, `2 min 05 s`. */
export function humanDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  const s = Math.round(ms / 1000)
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`
}
