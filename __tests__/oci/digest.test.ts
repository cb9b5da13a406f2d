import { describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import {
  digestOf,
  digestProblem,
  encodedLength,
  HashingStream,
  isDigest,
  isGrammaticalDigest,
  isRegisteredAlgorithm,
  parseDigest,
  verifyContent
} from '../../src/oci/digest.js'

const hex = (n: number, c = 'a'): string => c.repeat(n)

describe('digestProblem', () => {
  it.each([
    [42, 'not-a-string', 'is not a string'],
    [undefined, 'not-a-string', 'is not a string'],
    ['', 'grammar', 'does not match the digest grammar algorithm:encoded'],
    ['sha256', 'grammar', 'does not match the digest grammar algorithm:encoded'],
    [`sha256:${hex(63)}:`, 'grammar', 'does not match the digest grammar algorithm:encoded'],
    ['-sha256:abc', 'grammar', 'does not match the digest grammar algorithm:encoded'],
    [
      `sha384:${hex(96)}`,
      'unregistered-algorithm',
      'uses algorithm "sha384", which is not sha256 or sha512'
    ],
    [
      `multi+part.alg:${hex(10)}`,
      'unregistered-algorithm',
      'uses algorithm "multi+part.alg", which is not sha256 or sha512'
    ],
    [
      `constructor:${hex(64)}`,
      'unregistered-algorithm',
      'uses algorithm "constructor", which is not sha256 or sha512'
    ],
    [`sha256:${hex(64, 'A')}`, 'encoding', 'is not lower-case hex'],
    [`sha256:${hex(63)}=`, 'encoding', 'is not lower-case hex'],
    [`sha256:${hex(65)}`, 'encoding', 'has 65 hex characters; sha256 needs 64'],
    [`sha512:${hex(64)}`, 'encoding', 'has 64 hex characters; sha512 needs 128']
  ])('%j: %s', (digest, reason, message) => {
    expect(digestProblem(digest)).toEqual({ reason, message })
  })

  it('has nothing to say of a sha256 or sha512 digest', () => {
    expect(digestProblem(`sha256:${hex(64)}`)).toBeUndefined()
    expect(digestProblem(`sha512:${hex(128, 'f')}`)).toBeUndefined()
  })
})

describe('digest predicates', () => {
  it('tells the grammar from what Lading can verify', () => {
    expect(isGrammaticalDigest(`sha384:${hex(96)}`)).toBe(true)
    expect(isGrammaticalDigest(`sha256:${hex(3)}`)).toBe(true)
    expect(isGrammaticalDigest('sha256')).toBe(false)
    expect(isGrammaticalDigest(7)).toBe(false)
    expect(isDigest(`sha384:${hex(96)}`)).toBe(false)
    expect(isDigest(`sha256:${hex(64)}`)).toBe(true)
  })

  it('knows the registered algorithms only, not what every object inherits', () => {
    expect(encodedLength('sha256')).toBe(64)
    expect(encodedLength('sha512')).toBe(128)
    expect(encodedLength('constructor')).toBeUndefined()
    expect(isRegisteredAlgorithm(`sha512:${hex(3)}`)).toBe(true)
    expect(isRegisteredAlgorithm(`constructor:${hex(3)}`)).toBe(false)
  })

  it('parseDigest throws with the reason', () => {
    expect(() => parseDigest(`sha256:${hex(3)}`, 'the root')).toThrow(
      `the root "sha256:${hex(3)}" has 3 hex characters; sha256 needs 64`
    )
  })
})

describe('digests', () => {
  it('accepts sha256 and sha512 of the right length', () => {
    expect(digestProblem('sha256:' + 'a'.repeat(64))).toBeUndefined()
    expect(digestProblem('sha512:' + 'a'.repeat(128))).toBeUndefined()
  })
  it.each([
    ['sha256:' + 'A'.repeat(64), 'encoding', /lower-case/],
    ['sha256:' + 'a'.repeat(63), 'encoding', /63 hex/],
    ['sha512:' + 'a'.repeat(64), 'encoding', /64 hex characters; sha512 needs 128/],
    ['sha384:' + 'a'.repeat(96), 'unregistered-algorithm', /not sha256 or sha512/],
    ['constructor:' + 'a'.repeat(64), 'unregistered-algorithm', /"constructor"/],
    ['nocolon', 'grammar', /grammar/],
    [':' + 'a'.repeat(64), 'grammar', /grammar/],
    ['sha256:', 'grammar', /grammar/],
    ['SHA256:' + 'a'.repeat(64), 'grammar', /grammar/],
    ['sha256:' + 'a'.repeat(63) + '/', 'grammar', /grammar/],
    [42, 'not-a-string', /not a string/]
  ])('reports %j as %s', (d, reason, why) => {
    const problem = digestProblem(d)
    expect(problem?.reason).toBe(reason)
    expect(problem?.message).toMatch(why)
  })
  it('parses into algorithm and encoded', () => {
    expect(parseDigest('sha512:' + 'f'.repeat(128))).toEqual({
      algorithm: 'sha512',
      encoded: 'f'.repeat(128)
    })
  })
  it('hashes a stream while passing it through, in sha256 and sha512', async () => {
    const data = Buffer.from('hello, lading\n'.repeat(10000))
    for (const alg of ['sha256', 'sha512']) {
      const h = new HashingStream(alg)
      const chunks: Buffer[] = []
      await pipeline(
        Readable.from([data.subarray(0, 1000), data.subarray(1000)]),
        h,
        async (src: AsyncIterable<Buffer>) => {
          for await (const c of src) chunks.push(c)
        }
      )
      expect(Buffer.concat(chunks).equals(data)).toBe(true)
      expect(h.size).toBe(data.length)
      expect(h.digest()).toBe(`${alg}:` + createHash(alg).update(data).digest('hex'))
    }
  })
  it('verifies content against digest and size', () => {
    const data = Buffer.from('x')
    expect(() => verifyContent(data, digestOf(data), 1, 'blob')).not.toThrow()
    expect(() => verifyContent(data, digestOf('y'), 1, 'blob')).toThrow(/expected sha256/)
    expect(() => verifyContent(data, digestOf(data), 2, 'blob')).toThrow(/expected 2 bytes/)
  })
})
