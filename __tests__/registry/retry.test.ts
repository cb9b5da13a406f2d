import { describe, expect, it } from '@jest/globals'
import { RetryableError } from '../../src/registry/errors.js'
import {
  backoffDelay,
  defaultRetryPolicy,
  parseRetryAfter,
  withRetry
} from '../../src/registry/retry.js'

describe('retries', () => {
  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('3')).toBe(3000)
    const now = Date.parse('2025-01-01T00:00:00Z')
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:10 GMT', now)).toBe(10_000)
    expect(parseRetryAfter('soon')).toBeUndefined()
  })

  it('backs off exponentially with jitter, capped, and never earlier than Retry-After', () => {
    const p = { ...defaultRetryPolicy, baseDelayMs: 100, maxDelayMs: 1000 }
    expect(backoffDelay(1, p, undefined, () => 0)).toBe(50)
    expect(backoffDelay(3, p, undefined, () => 1)).toBe(400)
    expect(backoffDelay(10, p, undefined, () => 1)).toBe(1000)
    expect(backoffDelay(1, p, 5000, () => 1)).toBeGreaterThanOrEqual(5000)
  })

  it('stops after the attempts allowed and names what failed', async () => {
    let calls = 0
    const p = { attempts: 3, maxElapsedMs: 10_000, baseDelayMs: 1, maxDelayMs: 2 }
    const err = await withRetry(
      'GET thing',
      async () => {
        calls++
        throw new RetryableError('503 busy')
      },
      p
    ).catch(e => e)
    expect(calls).toBe(3)
    expect(err.message).toBe('GET thing failed after 3 attempts in 0s: 503 busy')
    let other = 0
    await expect(
      withRetry(
        'GET other',
        async () => {
          other++
          throw new Error('not retryable')
        },
        p
      )
    ).rejects.toThrow('not retryable')
    expect(other).toBe(1)
  })
})
