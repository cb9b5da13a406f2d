import { describe, expect, it } from '@jest/globals'
import { formatReference, parseReference } from '../../src/oci/reference.js'
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
