/** The `annotations` input's levels and platform selectors (src/app/annotations.ts). */
import { describe, expect, it } from '@jest/globals'
import {
  checkAnnotationPlatforms,
  manifestAnnotationsFor,
  manifestDescriptorAnnotationsFor,
  parseAnnotations
} from '../../src/app/annotations.js'
import { parsePlatform } from '../../src/oci/platform.js'
import { LadingError } from '../../src/util/errors.js'

const amd64 = parsePlatform('linux/amd64')
const arm64 = parsePlatform('linux/arm64/v8')

describe('parseAnnotations', () => {
  it('puts each level where buildx does, no prefix meaning manifest', () => {
    const a = parseAnnotations([
      'plain=1',
      'manifest:m=2',
      'index:i=3',
      'manifest-descriptor:md=4',
      'index-descriptor:id=5',
      'manifest,index:both=6',
      'org.opencontainers.image.url=https://example.com/a=b'
    ])
    expect(a.manifest).toEqual({
      plain: '1',
      m: '2',
      both: '6',
      'org.opencontainers.image.url': 'https://example.com/a=b'
    })
    expect(a.index).toEqual({ i: '3', both: '6' })
    expect(a.manifestDescriptor).toEqual({ md: '4' })
    expect(a.indexDescriptor).toEqual({ id: '5' })
    expect(a.scoped).toEqual([])
  })

  it('scopes manifest and manifest-descriptor annotations to their platforms', () => {
    const a = parseAnnotations([
      'manifest:k=all',
      'manifest[linux/arm64]:k=arm',
      'manifest-descriptor[linux/amd64,linux/arm64]:d=both'
    ])
    expect(manifestAnnotationsFor(a, amd64)).toEqual({ k: 'all' })
    // a selector without variant matches every variant; the scoped value wins
    expect(manifestAnnotationsFor(a, arm64)).toEqual({ k: 'arm' })
    expect(manifestDescriptorAnnotationsFor(a, amd64)).toEqual({ d: 'both' })
    expect(() => checkAnnotationPlatforms(a, [amd64, arm64])).not.toThrow()
    expect(() => checkAnnotationPlatforms(a, [amd64])).toThrow(
      /"manifest\[linux\/arm64\]:k=arm" is for linux\/arm64, which the image does not have \(it has linux\/amd64\)/
    )
  })

  it.each([
    [
      'index[linux/amd64]:k=v',
      /index annotations are for the one index, so they take no \[platform\]/
    ],
    ['index-descriptor[linux/amd64]:k=v', /take no \[platform\]/],
    ['manifest[]:k=v', /the platform selector \[\] is empty/],
    ['manifest[linux]:k=v', /is not os\/arch\[\/variant\]/],
    ['manifest:=v', /has no key after its level/],
    ['novalue', /is not key=value/]
  ])('refuses %s', (line, message) => {
    expect(() => parseAnnotations([line])).toThrow(LadingError)
    expect(() => parseAnnotations([line])).toThrow(message)
  })
})
