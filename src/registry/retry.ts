import { LadingError, messageOf } from '../util/errors.js'
import { RetryableError, isRetryableNetworkError } from './errors.js'

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number
  /** No new attempt starts after this much time since the first. */
  maxElapsedMs: number
  baseDelayMs: number
  maxDelayMs: number
}

export const defaultRetryPolicy: RetryPolicy = {
  attempts: 6,
  maxElapsedMs: 5 * 60_000,
  baseDelayMs: 500,
  maxDelayMs: 30_000
}

/** Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined
  const v = value.trim()
  if (/^\d+$/.test(v)) return Number(v) * 1000
  const when = Date.parse(v)
  return Number.isNaN(when) ? undefined : Math.max(0, when - now)
}

/**
 * Full jitter: a random delay below an exponentially growing cap, so many clients retrying the
 * same registry do not come back in step. The server's Retry-After wins when it asks for longer.
 */
export function backoffDelay(
  attempt: number,
  policy: RetryPolicy,
  retryAfterMs?: number,
  random: () => number = Math.random
): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1))
  const jittered = cap / 2 + random() * (cap / 2)
  if (retryAfterMs !== undefined)
    return Math.max(retryAfterMs, Math.min(jittered, retryAfterMs + 1000))
  return jittered
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

/**
 * Runs `fn` until it succeeds, throws something not retryable, or the policy's attempts or time
 * run out; then throws a LadingError naming `what` and the last cause.
 */
export async function withRetry<T>(
  what: string,
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy = defaultRetryPolicy,
  log?: (msg: string) => void
): Promise<T> {
  const started = Date.now()
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt)
    } catch (err) {
      if (!isRetryableNetworkError(err)) throw err
      const retryAfter = err instanceof RetryableError ? err.retryAfterMs : undefined
      const delay = backoffDelay(attempt, policy, retryAfter)
      const elapsed = Date.now() - started
      if (attempt >= policy.attempts || elapsed + delay > policy.maxElapsedMs) {
        if (err instanceof RetryableError && err.exhausted) throw err.exhausted(attempt)
        const tried = `${attempt} attempt${attempt > 1 ? 's' : ''} in ${Math.round(elapsed / 1000)}s`
        throw new LadingError(`${what} failed after ${tried}: ${messageOf(err)}`)
      }
      log?.(`${what}: ${messageOf(err)}; retrying in ${(delay / 1000).toFixed(1)}s`)
      await sleep(delay)
    }
  }
}
