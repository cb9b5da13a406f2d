/**
 * The pool files are read into: memory is reused only once every slice of it has been given back,
 * so no two Buffers in use ever share a byte.
 */
import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { SLAB_BYTES, SlabPool } from '../../../src/build/layer/slabs.js'

/** Where a Buffer lies: its memory and its byte range in it. */
function span(b: Buffer): { mem: ArrayBufferLike; from: number; to: number } {
  return { mem: b.buffer, from: b.byteOffset, to: b.byteOffset + b.length }
}

function overlaps(a: Buffer, b: Buffer): boolean {
  const x = span(a)
  const y = span(b)
  return x.mem === y.mem && x.from < y.to && y.from < x.to
}

describe('SlabPool', () => {
  it('reuses a slab once all its slices are back, and not before', () => {
    const pool = new SlabPool()
    const a = pool.take(1000)
    const b = pool.take(1000)
    expect(a.buffer).toBe(b.buffer)
    // A large request fills the first slab's place: the small ones' slab is retired.
    const big = pool.take(SLAB_BYTES)
    pool.release(a)
    const c = pool.take(SLAB_BYTES)
    expect(c.buffer).not.toBe(a.buffer)
    pool.release(b)
    pool.release(big)
    const d = pool.take(SLAB_BYTES)
    expect([a.buffer, big.buffer]).toContain(d.buffer)
  })

  it('keeps the bytes of a slice not given back', () => {
    const pool = new SlabPool()
    const kept = pool.take(SLAB_BYTES).fill(7)
    const other = pool.take(SLAB_BYTES)
    pool.release(other)
    for (let i = 0; i < 20; i++) {
      const b = pool.take(SLAB_BYTES).fill(9)
      pool.release(b)
    }
    expect(kept.every(x => x === 7)).toBe(true)
  })

  it('ignores Buffers it did not hand out', () => {
    const pool = new SlabPool()
    const a = pool.take(SLAB_BYTES)
    pool.release(Buffer.alloc(SLAB_BYTES))
    pool.release(Buffer.from(a))
    for (let i = 0; i < 4; i++) expect(overlaps(pool.take(SLAB_BYTES), a)).toBe(false)
  })

  it('never hands out a byte that a Buffer still out holds (any takes and releases)', () => {
    const op = fc.oneof(
      fc.record({
        // Shared slices (up to an eighth of a slab), whole slabs, and what no slab holds.
        take: fc.oneof(
          fc.integer({ min: 0, max: SLAB_BYTES / 8 }),
          fc.integer({ min: SLAB_BYTES / 8 + 1, max: SLAB_BYTES }),
          fc.constant(SLAB_BYTES + 1)
        )
      }),
      fc.record({ release: fc.nat() })
    )
    fc.assert(
      fc.property(fc.array(op, { minLength: 20, maxLength: 300, size: 'max' }), ops => {
        const pool = new SlabPool()
        const out: Buffer[] = []
        for (const o of ops) {
          if ('take' in o) {
            const b = pool.take(o.take)
            expect(b.length).toBe(o.take)
            for (const held of out)
              if (b.length && held.length) expect(overlaps(b, held)).toBe(false)
            out.push(b)
          } else if (out.length) {
            const [b] = out.splice(o.release % out.length, 1)
            pool.release(b)
          }
        }
      }),
      { seed: 42, numRuns: 100 }
    )
  })
})
