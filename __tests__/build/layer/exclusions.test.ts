/**
 * The paths a directory layer leaves out: `mayHoldAny` lets the walk skip asking about each
 * entry of a directory, so it must never say no for a directory with an entry `has` excludes.
 */
import { describe, it, expect } from '@jest/globals'
import fc from 'fast-check'
import { resolveExclusions } from '../../../src/build/layer/walk.js'

// Paths under a root that does not exist: resolved as written (nothing to follow).
const ROOT = '/lading-no-such-root'
const segment = fc.constantFrom('a', 'b', 'ab', '.out.lading-', 'out', 'x y')
const rel = fc.array(segment, { minLength: 1, maxLength: 3 }).map(s => s.join('/'))

describe('exclusions', () => {
  it('a directory said to hold no excluded entry holds none (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(rel, { maxLength: 3 }),
        fc.array(fc.tuple(rel, fc.boolean()), { maxLength: 3 }),
        fc.array(segment, { maxLength: 3 }),
        segment,
        async (exact, stems, dirParts, name) => {
          const patterns = [
            ...exact.map(e => `${ROOT}/${e}`),
            // `stem*` (a name prefix) or `stem/*` (everything in a directory).
            ...stems.map(([s, slash]) => `${ROOT}/${s}${slash ? '/' : ''}*`)
          ]
          const ex = await resolveExclusions(`${ROOT}/store`, patterns)
          const dir = [ROOT, ...dirParts].join('/')
          const child = `${dir}/${name}`
          if (ex.has(child)) expect(ex.mayHoldAny(dir)).toBe(true)
        }
      ),
      { numRuns: 300, seed: 11 }
    )
  })

  it('says no for a directory far from every exclusion, and yes next to one', async () => {
    const ex = await resolveExclusions(`${ROOT}/out`, [
      `${ROOT}/img.tar`,
      `${ROOT}/tmp/.out.lading-*`
    ])
    expect(ex.mayHoldAny(`${ROOT}/src`)).toBe(false)
    expect(ex.mayHoldAny(`${ROOT}/src/lib`)).toBe(false)
    expect(ex.mayHoldAny(ROOT)).toBe(true)
    expect(ex.mayHoldAny(`${ROOT}/tmp`)).toBe(true)
    expect(ex.has(`${ROOT}/tmp/.out.lading-7`)).toBe(true)
    expect(ex.has(`${ROOT}/out`)).toBe(true)
  })
})
