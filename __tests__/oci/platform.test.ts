import { describe, expect, it } from '@jest/globals'
import {
  formatPlatform,
  parsePlatform,
  platformMatches,
  platformsEqual
} from '../../src/oci/platform.js'

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
