import type * as http from 'node:http'
import type { Socket } from 'node:net'
import { LadingError } from '../util/errors.js'

/** The whole of one request for a document, a token or a HEAD: headers and body. */
export const REQUEST_DEADLINE_MS = 60_000
/** The slowest a blob upload or download may go, in bytes per second... */
export const MIN_TRANSFER_RATE = 10 * 1024
/** ...averaged over this long, so a short stall of a healthy registry is not held against it. */
export const RATE_WINDOW_MS = 30_000

/** How long a registry may take; tests make them small. */
export interface TransferLimits {
  deadlineMs: number
  minBytesPerSecond: number
  rateWindowMs: number
}

export const defaultTransferLimits: TransferLimits = {
  deadlineMs: REQUEST_DEADLINE_MS,
  minBytesPerSecond: MIN_TRANSFER_RATE,
  rateWindowMs: RATE_WINDOW_MS
}

/**
 * What one exchange is held to. Without `minRate`: the whole exchange, response body included,
 * ends within `deadlineMs`. With it: the body (sent when the request has one, else received)
 * moves at least that fast over each window; an upload whose body is sent then has `deadlineMs`
 * for the registry's answer (storing a blob is no transfer to hold to a rate).
 */
export interface Watch {
  /** For the error: what is being done, e.g. `GET manifest ghcr.io/o/r:1`. */
  what: string
  deadlineMs?: number
  minRate?: { bytesPerSecond: number; windowMs: number }
}

/**
 * A registry too slow for a limit: not retried, since a registry that trickled once is no faster
 * the next time, and retries would multiply the wait the limit is there to bound.
 */
export class TooSlow extends LadingError {}

export function seconds(ms: number): string {
  return ms >= 1000 ? `${+(ms / 1000).toFixed(1)} s` : `${ms} ms`
}

function rate(bytesPerSecond: number): string {
  return bytesPerSecond >= 1024
    ? `${+(bytesPerSecond / 1024).toFixed(1)} KiB/s`
    : `${bytesPerSecond} B/s`
}

function moved(s: Socket): number {
  return (s.bytesRead ?? 0) + (s.bytesWritten ?? 0)
}

/**
 * Holds one exchange to its watch: on a breach the request and its response are destroyed with a
 * TooSlow naming the host, what was being done and the limit. `response` hands over the response
 * when it arrives, so its body is covered too.
 */
export class ExchangeWatch {
  private res?: http.IncomingMessage
  private deadline?: NodeJS.Timeout
  private window?: NodeJS.Timeout

  constructor(
    private readonly r: http.ClientRequest,
    private readonly w: Watch,
    private readonly host: string,
    uploading: boolean
  ) {
    if (w.minRate) this.watchRate(w.minRate, uploading)
    else if (w.deadlineMs !== undefined) this.startDeadline(w.deadlineMs, '')
    r.on('error', () => this.stop())
    r.on('close', () => {
      if (!this.res) this.stop()
    })
  }

  response(m: http.IncomingMessage): void {
    this.res = m
    m.on('end', () => this.stop())
    m.on('close', () => this.stop())
  }

  private stop(): void {
    clearTimeout(this.deadline)
    clearTimeout(this.window)
  }

  private fail(err: TooSlow): void {
    this.stop()
    this.r.destroy(err)
    if (!this.res) return
    // Whoever reads the body later finds the error on it; no one reading now is no crash.
    this.res.on('error', () => {})
    this.res.destroy(err)
  }

  private startDeadline(limit: number, since: string): void {
    const err = () =>
      new TooSlow(
        `${this.w.what}: ${this.host} did not answer in full within ${seconds(limit)}${since} ` +
          '(REQUEST_DEADLINE_MS, the deadline of one request); the registry is stalled or far ' +
          'too slow'
      )
    this.deadline = setTimeout(() => this.fail(err()), limit)
  }

  private watchRate(minRate: NonNullable<Watch['minRate']>, uploading: boolean): void {
    const { bytesPerSecond, windowMs } = minRate
    let socket: Socket | undefined
    let last = 0
    this.r.on('socket', s => {
      socket = s
      last = moved(s)
    })
    let checkedAt = Date.now()
    let behindAtStart = false
    const check = () => {
      const now = socket ? moved(socket) : 0
      const got = now - last
      last = now
      // A timer that fires late means this process was too busy to read: its stall, not the
      // registry's, so that window is not judged.
      const late = Date.now() - checkedAt > windowMs * 1.5
      checkedAt = Date.now()
      if (late) {
        this.window = setTimeout(check, windowMs)
        return
      }
      // A download whose reader is behind (bytes received and not yet read) waits on Lading,
      // not on the registry: the registry is only to blame when nothing waits to be read, at the
      // start of the window as at its end. (A reader that was behind and has just caught up
      // empties every buffer before the registry's next bytes can arrive.)
      const res = this.res
      const waitingOnUs =
        (!!res && res.readableLength > 0) || (!!socket && socket.readableLength > 0)
      const judged = !waitingOnUs && !behindAtStart
      behindAtStart = waitingOnUs
      if (judged && got < (bytesPerSecond * windowMs) / 1000)
        return this.fail(
          new TooSlow(
            `${this.w.what}: ${got} bytes moved with ${this.host} in ${seconds(windowMs)}, ` +
              `below the minimum rate of ${rate(bytesPerSecond)} (MIN_TRANSFER_RATE over ` +
              'RATE_WINDOW_MS); the registry or the network is stalled or far too slow'
          )
        )
      this.window = setTimeout(check, windowMs)
    }
    this.window = setTimeout(check, windowMs)
    // Once an upload's body is sent, the registry stores the blob: no bytes move meanwhile.
    const limit = this.w.deadlineMs
    if (uploading)
      this.r.on('finish', () => {
        clearTimeout(this.window)
        if (limit !== undefined && !this.res) this.startDeadline(limit, ' of the end of the upload')
      })
  }
}
