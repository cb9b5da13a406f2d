import { describe, it, expect } from '@jest/globals'
import fc from 'fast-check'
import { formatRFC3339, isRFC3339, parseRFC3339 } from '../../src/oci/time.js'

const SEED = 20240229
const runs = { seed: SEED, numRuns: 1000 }
const pad = (n: number, width = 2): string => String(n).padStart(width, '0')

/** Days of a month in the proleptic Gregorian calendar, as Date knows it (years 100 and later). */
const daysIn = (year: number, month: number): number =>
  new Date(Date.UTC(year, month, 0)).getUTCDate()

const fields = fc.record({
  year: fc.integer({ min: 100, max: 9999 }),
  month: fc.integer({ min: 1, max: 12 }),
  day: fc.integer({ min: 1, max: 31 }),
  hour: fc.integer({ min: 0, max: 23 }),
  minute: fc.integer({ min: 0, max: 59 }),
  second: fc.integer({ min: 0, max: 59 }),
  fraction: fc.option(fc.stringMatching(/^\d{1,9}$/), { nil: undefined }),
  offset: fc.option(fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }), { nil: undefined })
})
type Fields = typeof fields extends fc.Arbitrary<infer T> ? T : never

function text(f: Fields): string {
  const fraction = f.fraction === undefined ? '' : `.${f.fraction}`
  const a = Math.abs(f.offset ?? 0)
  const zone =
    f.offset === undefined
      ? 'Z'
      : `${f.offset < 0 ? '-' : '+'}${pad(Math.floor(a / 60))}:${pad(a % 60)}`
  return `${pad(f.year, 4)}-${pad(f.month)}-${pad(f.day)}T${pad(f.hour)}:${pad(f.minute)}:${pad(f.second)}${fraction}${zone}`
}

describe('RFC 3339 properties', () => {
  it('never throws on arbitrary strings, nor on arbitrary values', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.anything(), (s, v) => {
        expect(() => parseRFC3339(s)).not.toThrow()
        expect(() => parseRFC3339(s, { space: true })).not.toThrow()
        expect(() => isRFC3339(v)).not.toThrow()
      }),
      runs
    )
  })

  it('reads back what it writes, to the millisecond, for years 0 to 9999', () => {
    const dates = fc.date({
      min: new Date('0000-01-01T00:00:00Z'),
      max: new Date('9999-12-31T23:59:59.999Z'),
      noInvalidDate: true
    })
    fc.assert(
      fc.property(dates, d => {
        const written = formatRFC3339(d)
        expect(isRFC3339(written)).toBe(true)
        expect(parseRFC3339(written)?.getTime()).toBe(d.getTime())
      }),
      runs
    )
  })

  it('agrees with Date on every date that exists, and rejects what Date rolls over', () => {
    fc.assert(
      fc.property(fields, f => {
        const s = text(f)
        const byDate = new Date(s).getTime()
        if (f.day <= daysIn(f.year, f.month)) {
          expect(parseRFC3339(s)?.getTime()).toBe(byDate)
          expect(isRFC3339(s)).toBe(true)
        } else {
          // Date says 2024-02-30 is March 1st; it is no date at all.
          expect(Number.isNaN(byDate)).toBe(false)
          expect(parseRFC3339(s)).toBeUndefined()
          expect(isRFC3339(s)).toBe(false)
        }
      }),
      runs
    )
  })
})

describe('RFC 3339 cases', () => {
  it.each([
    ['2024-02-29T12:00:00Z', '2024-02-29T12:00:00.000Z'],
    ['2024-02-29t23:30:00+01:00', '2024-02-29T22:30:00.000Z'],
    ['2024-01-01T00:00:00.123456789z', '2024-01-01T00:00:00.123Z'],
    ['0001-01-01T00:00:00Z', '0001-01-01T00:00:00.000Z'],
    ['0050-06-01T00:00:00-00:30', '0050-06-01T00:30:00.000Z']
  ])('reads %s', (s, iso) => {
    expect(parseRFC3339(s)?.toISOString()).toBe(iso)
  })

  it.each([
    '2023-02-29T00:00:00Z',
    '1900-02-29T00:00:00Z',
    '2024-04-31T00:00:00Z',
    '2024-13-01T00:00:00Z',
    '2024-00-01T00:00:00Z',
    '2024-01-01T24:00:00Z',
    '2024-01-01T00:60:00Z',
    '2024-01-01T00:00:61Z',
    '2024-01-01T00:00:00+24:00',
    '2024-01-01T00:00:00+01:60',
    '2024-01-01T00:00:00',
    '2024-01-01',
    '2024-01-01T00:00Z',
    '24-01-01T00:00:00Z',
    '2024-01-01T00:00:00.Z',
    '１９９９-01-01T00:00:00Z'
  ])('rejects %s', s => {
    expect(parseRFC3339(s)).toBeUndefined()
    expect(isRFC3339(s)).toBe(false)
  })

  it('takes a space for T only when asked to', () => {
    expect(parseRFC3339('2024-01-02 03:04:05Z')).toBeUndefined()
    expect(isRFC3339('2024-01-02 03:04:05Z')).toBe(false)
    expect(parseRFC3339('2024-01-02 03:04:05Z', { space: true })?.toISOString()).toBe(
      '2024-01-02T03:04:05.000Z'
    )
  })

  it('knows a leap second is RFC 3339, which no Date can hold', () => {
    expect(isRFC3339('2016-12-31T23:59:60Z')).toBe(true)
    expect(parseRFC3339('2016-12-31T23:59:60Z')).toBeUndefined()
  })

  it('writes whole seconds without a fraction, and milliseconds when there are some', () => {
    expect(formatRFC3339(new Date(1715000000 * 1000))).toBe('2024-05-06T12:53:20Z')
    expect(formatRFC3339(new Date(1715000000 * 1000 + 5))).toBe('2024-05-06T12:53:20.005Z')
  })
})
