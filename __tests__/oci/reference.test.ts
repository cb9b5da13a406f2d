import { describe, it, expect } from '@jest/globals'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createHash } from 'node:crypto'
import { parseReference, formatReference } from '../../src/oci/reference.js'
import {
  parsePlatform,
  formatPlatform,
  platformMatches,
  platformsEqual
} from '../../src/oci/platform.js'
import {
  digestProblem,
  HashingStream,
  parseDigest,
  verifyContent,
  digestOf
} from '../../src/oci/digest.js'
import { LadingError } from '../../src/util/errors.js'

describe('references', () => {
  it.each([
    ['alpine', 'docker.io/library/alpine:latest'],
    ['docker://alpine:3.20', 'docker.io/library/alpine:3.20'],
    ['user/app', 'docker.io/user/app:latest'],
    ['index.docker.io/user/app:1', 'docker.io/user/app:1'],
    ['ghcr.io/o/r:v1', 'ghcr.io/o/r:v1'],
    ['localhost/app', 'localhost/app:latest'],
    ['127.0.0.1:5000/a/b/c:t', '127.0.0.1:5000/a/b/c:t'],
    ['localhost:5000/app@sha256:' + 'a'.repeat(64), 'localhost:5000/app@sha256:' + 'a'.repeat(64)],
    ['r.io/app:1@sha256:' + 'b'.repeat(64), 'r.io/app:1@sha256:' + 'b'.repeat(64)]
  ])('%s → %s', (input, expected) => {
    expect(formatReference(parseReference(input, { defaultTag: 'latest' }))).toBe(expected)
  })

  it('keeps the tag absent without a default', () => {
    expect(parseReference('ghcr.io/o/r').tag).toBeUndefined()
  })

  it.each([
    '',
    'UPPER/case',
    'a//b',
    'host.io/app:bad tag',
    'app@sha256:123',
    'app:-x',
    'a/b@md5:' + 'a'.repeat(32)
  ])('rejects %j with a LadingError', bad => {
    expect(() => parseReference(bad)).toThrow(LadingError)
  })
})

describe('platforms', () => {
  it('parses and formats os/arch[/variant]', () => {
    expect(parsePlatform('linux/arm/v7')).toEqual({
      os: 'linux',
      architecture: 'arm',
      variant: 'v7'
    })
    expect(formatPlatform(parsePlatform(' linux/amd64 '))).toBe('linux/amd64')
  })
  it.each(['linux', 'linux/', 'a/b/c/d', 'linux/amd 64'])('rejects %j', bad => {
    expect(() => parsePlatform(bad)).toThrow(/os\/arch/)
  })
  it('treats arm64 and arm64/v8 as the same platform', () => {
    expect(platformsEqual(parsePlatform('linux/arm64'), parsePlatform('linux/arm64/v8'))).toBe(true)
    expect(platformsEqual(parsePlatform('linux/arm/v6'), parsePlatform('linux/arm/v7'))).toBe(false)
  })
  it('matches a filter without variant against every variant', () => {
    expect(platformMatches(parsePlatform('linux/arm'), parsePlatform('linux/arm/v7'))).toBe(true)
    expect(platformMatches(parsePlatform('linux/arm/v6'), parsePlatform('linux/arm/v7'))).toBe(
      false
    )
    expect(platformMatches(parsePlatform('linux/amd64'), parsePlatform('windows/amd64'))).toBe(
      false
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
