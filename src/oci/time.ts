/**
 * RFC 3339 date-times (section 5.6), the form of `created` in configs and annotations: one strict
 * reader for the validator and for inputs, and the one way Lading writes them.
 */

const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})([Tt ])(\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/

export interface RFC3339Options {
  /** a space instead of `T` between date and time, which RFC 3339's note allows readers to take */
  space?: boolean
}

interface DateTimeFields {
  year: number
  month: number
  day: number
  hour: number
  minute: number
  second: number
  milliseconds: number
  /** east of UTC, in minutes */
  offset: number
}

function daysIn(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
  return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0
}

/**
 * The fields of an RFC 3339 date-time when the text is one and every field is in range (no
 * February 30th, no hour 24; second 60 is the grammar's leap second), else undefined.
 */
function readFields(text: unknown, opts: RFC3339Options): DateTimeFields | undefined {
  if (typeof text !== 'string') return undefined
  const m = DATE_TIME.exec(text)
  if (!m || (m[4] === ' ' && !opts.space)) return undefined
  const [year, month, day, hour, minute, second] = [1, 2, 3, 5, 6, 7].map(i => Number(m[i]))
  const offsetHours = m[9] === undefined ? 0 : Number(m[10])
  const offsetMinutes = m[9] === undefined ? 0 : Number(m[11])
  const inRange =
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysIn(year, month) &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 60 &&
    offsetHours <= 23 &&
    offsetMinutes <= 59
  if (!inRange) return undefined
  const sign = m[9] === '-' ? -1 : 1
  return {
    year,
    month,
    day,
    hour,
    minute,
    second,
    // Date holds milliseconds: further digits are dropped, as Date.parse drops them.
    milliseconds: m[8] ? Number(m[8].slice(1, 4).padEnd(3, '0')) : 0,
    offset: sign * (offsetHours * 60 + offsetMinutes)
  }
}

/** Whether `text` is an RFC 3339 date-time whose date exists (the validator's test). */
export function isRFC3339(text: unknown, opts: RFC3339Options = {}): boolean {
  return readFields(text, opts) !== undefined
}

/**
 * The instant an RFC 3339 date-time names, or undefined when it is not one, or names a date that
 * does not exist (Date would roll 2024-02-30 over to March 1st), or a leap second (a Date cannot
 * hold one, and Go's time.Parse refuses it).
 */
export function parseRFC3339(text: string, opts: RFC3339Options = {}): Date | undefined {
  const f = readFields(text, opts)
  if (!f || f.second === 60) return undefined
  const d = new Date(0)
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0 to 99 as 1900 to 1999.
  d.setUTCFullYear(f.year, f.month - 1, f.day)
  d.setUTCHours(f.hour, f.minute - f.offset, f.second, f.milliseconds)
  return d
}

/** The RFC 3339 form Lading writes: UTC, `Z`, milliseconds only when there are some. */
export function formatRFC3339(d: Date): string {
  return d.toISOString().replace(/\.000Z$/, 'Z')
}
