import { describe, it, expect } from '@jest/globals'
import fc from 'fast-check'
import {
  MAX_JSON_DEPTH,
  isObject,
  jsonDepth,
  parseJSON,
  parseJSONValue
} from '../../src/oci/json.js'
import { LadingError } from '../../src/util/errors.js'

const SEED = 20240229
const runs = { seed: SEED, numRuns: 500 }
const kinds = (input: Buffer | string): string[] => parseJSON(input).problems.map(p => p.kind)

describe('parseJSON properties', () => {
  it('never throws on arbitrary strings, and has a value unless it says why not', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), s => {
        const r = parseJSON(s)
        const refused = r.problems.some(p =>
          ['invalid', 'byte-order-mark', 'too-deep'].includes(p.kind)
        )
        expect(refused).toBe(r.value === undefined)
      }),
      runs
    )
  })

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), bytes => {
        expect(() => parseJSON(Buffer.from(bytes))).not.toThrow()
      }),
      runs
    )
  })

  it('never throws on JSON-looking text: fragments of JSON cut and joined', () => {
    fc.assert(
      fc.property(fc.array(fc.json(), { maxLength: 4 }), fc.nat(), (docs, cut) => {
        const text = docs.join(',')
        expect(() => parseJSON(text.slice(0, cut % (text.length + 1)))).not.toThrow()
        expect(() => parseJSON(`[${text}]`)).not.toThrow()
      }),
      runs
    )
  })

  it('reads what JSON.parse reads, as a string and as UTF-8 bytes', () => {
    fc.assert(
      fc.property(fc.json(), text => {
        const expected = JSON.parse(text) as unknown
        expect(parseJSON(text).value).toEqual(expected)
        const fromBytes = parseJSON(Buffer.from(text, 'utf8'))
        expect(fromBytes.value).toEqual(expected)
        expect(fromBytes.problems.map(p => p.kind)).not.toContain('invalid')
      }),
      runs
    )
  })

  it('finds no problem in what JSON.stringify writes of an object with safe numbers', () => {
    const safe = fc.letrec(tie => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.string(),
        fc.boolean(),
        fc.constant(null),
        fc.integer(),
        fc.array(tie('value'), { maxLength: 3 }),
        fc.dictionary(fc.string(), tie('value'), { maxKeys: 3 })
      )
    })).value
    fc.assert(
      fc.property(safe, v => {
        expect(parseJSON(JSON.stringify(v)).problems).toEqual([])
      }),
      runs
    )
  })

  it('finds a name given twice, wherever the object is', () => {
    fc.assert(
      fc.property(fc.string(), fc.json(), fc.json(), (key, a, b) => {
        const text = `{"outer":[{${JSON.stringify(key)}:${a},${JSON.stringify(key)}:${b}}]}`
        expect(kinds(text)).toContain('duplicate-key')
      }),
      runs
    )
  })

  it('refuses whatever nests deeper than MAX_JSON_DEPTH, with no value, and never throws', () => {
    const open = fc.constantFrom('[', '{"a":', '{"":', '[1,')
    fc.assert(
      fc.property(
        fc.array(open, { minLength: MAX_JSON_DEPTH + 1, maxLength: 3 * MAX_JSON_DEPTH }),
        fc.json(),
        (opens, inner) => {
          const close = opens.map(o => (o.startsWith('[') ? ']' : '}')).reverse()
          const text = opens.join('') + inner + close.join('')
          const r = parseJSON(text)
          expect(r.value).toBeUndefined()
          expect(r.problems.map(p => p.kind)).toEqual(['too-deep'])
          expect(() => parseJSONValue(text, 'x')).toThrow(LadingError)
        }
      ),
      runs
    )
  })

  it('measures the nesting of any text it reads as JSON.parse would, brackets in strings apart', () => {
    const depthOf = (v: unknown): number =>
      typeof v === 'object' && v !== null ? 1 + Math.max(0, ...Object.values(v).map(depthOf)) : 0
    fc.assert(
      fc.property(fc.json({ depthSize: 'medium' }), text => {
        expect(jsonDepth(text)).toBe(depthOf(JSON.parse(text)))
      }),
      runs
    )
  })
})

describe('parseJSON reasons', () => {
  it.each([
    ['{"a":1', 'invalid'],
    ['\uFEFF{}', 'byte-order-mark'],
    ['{"a":1,"a":2}', 'duplicate-key'],
    ['{"size":1.0}', 'integer-form'],
    ['{"schemaVersion":2e0}', 'integer-form'],
    ['{"n":9007199254740993}', 'number-precision']
  ])('%j: %s', (text, kind) => {
    expect(kinds(text)).toEqual([kind])
  })

  it('reads bytes that are not UTF-8, and says so', () => {
    const r = parseJSON(Buffer.from([0x22, 0xff, 0x22]))
    expect(r.problems.map(p => p.kind)).toEqual(['not-utf8'])
    expect(r.value).toBe('\uFFFD')
  })

  it('finds a byte order mark in bytes, where TextDecoder would drop it', () => {
    expect(kinds(Buffer.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d]))).toEqual(['byte-order-mark'])
  })

  it('says where a duplicate name is', () => {
    expect(parseJSON('{"a":{"b":[{"c":1,"c":2}]}}').problems[0].message).toBe(
      'name "c" appears twice in the object at a.b'
    )
  })

  it('lists at most 20 I-JSON problems', () => {
    const text = `{${Array.from({ length: 30 }, () => '"k":1').join(',')}}`
    expect(kinds(text)).toHaveLength(20)
  })

  it.each([
    ['arrays', (n: number) => '['.repeat(n) + ']'.repeat(n)],
    ['objects', (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)]
  ])('reads %s nested MAX_JSON_DEPTH deep, and refuses one level more', (_, nest) => {
    expect(parseJSON(nest(MAX_JSON_DEPTH)).problems).toEqual([])
    expect(parseJSON(nest(MAX_JSON_DEPTH)).value).toBeDefined()
    const r = parseJSON(nest(MAX_JSON_DEPTH + 1))
    expect(r.value).toBeUndefined()
    expect(r.problems).toEqual([
      {
        kind: 'too-deep',
        message: `nests arrays and objects ${MAX_JSON_DEPTH + 1} levels deep, more than the ${MAX_JSON_DEPTH} (MAX_JSON_DEPTH) Lading reads; it was not read, so nothing it holds or references was checked`
      }
    ])
  })

  it('refuses a document 4 MiB deep in one pass, without recursion', () => {
    const n = 2 * 1024 * 1024
    const started = Date.now()
    expect(kinds('['.repeat(n) + ']'.repeat(n))).toEqual(['too-deep'])
    expect(kinds(Buffer.from('{"a":'.repeat(n / 4) + '{}' + '}'.repeat(n / 4)))).toEqual([
      'too-deep'
    ])
    // unclosed: still too deep, not a stack overflow
    expect(kinds('['.repeat(n))).toEqual(['too-deep'])
    // One pass takes well under a second; a pass per level would take hours. The bound is loose
    // so that a loaded machine does not fail it.
    expect(Date.now() - started).toBeLessThan(30_000)
  })

  it('does not count brackets inside strings', () => {
    const text = JSON.stringify({ a: '['.repeat(1000), b: ['{'.repeat(1000) + '\\"'] })
    expect(jsonDepth(text)).toBe(2)
    expect(kinds(text)).toEqual([])
  })

  it('leaves a number that is not an integer alone outside the integer members', () => {
    expect(kinds('{"ratio":1.5,"big":1e400}')).toEqual([])
  })
})

describe('parseJSONValue', () => {
  it('returns the value, whatever I-JSON says of it', () => {
    expect(parseJSONValue('{"a":1,"a":2}', 'x')).toEqual({ a: 2 })
    expect(parseJSONValue(Buffer.from([0x22, 0xff, 0x22]), 'x')).toBe('\uFFFD')
  })

  it('throws a LadingError that names the document and the reason', () => {
    expect(() => parseJSONValue('{', 'the index')).toThrow(LadingError)
    expect(() => parseJSONValue('{', 'the index')).toThrow(/^the index is not valid JSON: /)
    expect(() => parseJSONValue('\uFEFF{}', 'the index')).toThrow(
      /^the index starts with a UTF-8 byte order mark/
    )
    expect(() => parseJSONValue('['.repeat(10_000) + ']'.repeat(10_000), 'the index')).toThrow(
      /^the index nests arrays and objects 10000 levels deep, more than the 64 \(MAX_JSON_DEPTH\)/
    )
  })
})

describe('isObject', () => {
  it('is true of objects only', () => {
    expect([{}, [], null, 1, 'a'].map(isObject)).toEqual([true, false, false, false, false])
  })
})
