import { describe, it, expect } from '@jest/globals'
import {
  digestProblem,
  encodedLength,
  isDigest,
  isGrammaticalDigest,
  isRegisteredAlgorithm,
  parseDigest
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
