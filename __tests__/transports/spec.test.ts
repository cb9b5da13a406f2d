import { describe, it, expect } from '@jest/globals'
import { parseSourceSpec } from '../../src/transports/spec.js'
import { LadingError } from '../../src/util/errors.js'

describe('parseSourceSpec', () => {
  it('reads scratch and the layout transports', () => {
    expect(parseSourceSpec(' scratch ')).toEqual({ kind: 'scratch' })
    expect(parseSourceSpec('oci:./out/layout')).toEqual({ kind: 'oci', path: './out/layout' })
    expect(parseSourceSpec('oci:./out/layout:v1.2')).toEqual({
      kind: 'oci',
      path: './out/layout',
      ref: 'v1.2'
    })
    expect(parseSourceSpec('oci-archive:img.tar:latest')).toEqual({
      kind: 'oci-archive',
      path: 'img.tar',
      ref: 'latest'
    })
    expect(parseSourceSpec('oci-archive:/abs/img.tar')).toEqual({
      kind: 'oci-archive',
      path: '/abs/img.tar'
    })
  })

  it('keeps a ":" that belongs to the path', () => {
    // What follows the last ':' has a '/', so it is part of the path, not a REF.
    expect(parseSourceSpec('oci:/data/a:b/layout')).toEqual({
      kind: 'oci',
      path: '/data/a:b/layout'
    })
    expect(parseSourceSpec('oci:/data/a:b/layout:t')).toEqual({
      kind: 'oci',
      path: '/data/a:b/layout',
      ref: 't'
    })
    expect(parseSourceSpec('oci:dir:')).toEqual({ kind: 'oci', path: 'dir' })
    expect(parseSourceSpec('oci::x')).toEqual({ kind: 'oci', path: ':x' })
  })

  it('reads a REF that is a digest', () => {
    const d = 'sha256:' + 'a'.repeat(64)
    expect(parseSourceSpec(`oci:lay:${d}`)).toEqual({ kind: 'oci', path: 'lay', ref: d })
    expect(parseSourceSpec(`oci-archive:a:b.tar:${d}`)).toEqual({
      kind: 'oci-archive',
      path: 'a:b.tar',
      ref: d
    })
  })

  it('reads docker-archive with and without an image reference', () => {
    expect(parseSourceSpec('docker-archive:save.tar')).toEqual({
      kind: 'docker-archive',
      path: 'save.tar'
    })
    expect(parseSourceSpec('docker-archive:save.tar:repo/name:t1')).toEqual({
      kind: 'docker-archive',
      path: 'save.tar',
      ref: 'repo/name:t1'
    })
  })

  it('reads registry references', () => {
    expect(parseSourceSpec('alpine')).toEqual({ kind: 'registry', reference: 'alpine' })
    expect(parseSourceSpec('node:22')).toEqual({ kind: 'registry', reference: 'node:22' })
    expect(parseSourceSpec('localhost:5000/a/b:1')).toEqual({
      kind: 'registry',
      reference: 'localhost:5000/a/b:1'
    })
    expect(parseSourceSpec('docker://ghcr.io/o/r@sha256:' + 'b'.repeat(64))).toEqual({
      kind: 'registry',
      reference: 'ghcr.io/o/r@sha256:' + 'b'.repeat(64)
    })
  })

  it('names an unknown transport', () => {
    for (const [line, word] of [
      ['foo:./x', 'foo'],
      ['dir:/tmp/x', 'dir'],
      ['containers-storage:alpine', 'containers-storage'],
      ['ostree:alpine', 'ostree']
    ]) {
      expect(() => parseSourceSpec(line)).toThrow(LadingError)
      expect(() => parseSourceSpec(line)).toThrow(
        `from: "${line}": unknown transport "${word}"; use scratch, oci:, oci-archive:, docker-archive:, docker-daemon: or a registry reference`
      )
    }
  })

  it('rejects a bad registry reference and empty paths', () => {
    expect(() => parseSourceSpec('Alpine/UPPER')).toThrow(LadingError)
    expect(() => parseSourceSpec('docker://')).toThrow(LadingError)
    expect(() => parseSourceSpec('oci:')).toThrow(/needs a path/)
    expect(() => parseSourceSpec('')).toThrow(LadingError)
  })
})
