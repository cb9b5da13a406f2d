import { LadingError } from '../util/errors.js'
import type { ImageConfig, Platform } from './types.js'

/** Parses `os/arch[/variant]`, e.g. `linux/arm64/v8`. */
export function parsePlatform(s: string): Platform {
  const parts = s.trim().split('/')
  if (parts.length < 2 || parts.length > 3 || parts.some(p => !/^[a-z0-9._-]+$/i.test(p)))
    throw new LadingError(
      `platform "${s}" is not os/arch[/variant] (for example linux/amd64 or linux/arm/v7)`
    )
  return normalizePlatform({ os: parts[0], architecture: parts[1], variant: parts[2] })
}

/**
 * The platform with its fields in one fixed order (the spec's) and empty ones dropped, so the
 * same platform always serialises to the same bytes, whichever way it was read.
 */
export function normalizePlatform(p: Platform): Platform {
  const out: Platform = { architecture: p.architecture, os: p.os }
  if (p['os.version']) out['os.version'] = p['os.version']
  if (p['os.features']?.length) out['os.features'] = p['os.features']
  if (p.variant) out.variant = p.variant
  if (p.features?.length) out.features = p.features
  return out
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/')
}

/** The variant an architecture implies when none is given (arm64 is v8, as containerd assumes). */
function normalVariant(p: Platform): string | undefined {
  if (p.architecture === 'arm64' && p.variant === 'v8') return undefined
  return p.variant || undefined
}

export function platformsEqual(a: Platform, b: Platform): boolean {
  return (
    a.os === b.os &&
    a.architecture === b.architecture &&
    normalVariant(a) === normalVariant(b) &&
    (a['os.version'] ?? '') === (b['os.version'] ?? '')
  )
}

/** Whether `p` is selected by the filter `want` (a filter without variant selects every variant). */
export function platformMatches(want: Platform, p: Platform): boolean {
  if (want.os !== p.os || want.architecture !== p.architecture) return false
  if (want.variant === undefined) return true
  return normalVariant(want) === normalVariant(p)
}

export function platformOfConfig(
  c: Pick<ImageConfig, 'os' | 'architecture' | 'variant' | 'os.version'>
): Platform {
  const p: Platform = { os: c.os, architecture: c.architecture }
  if (c.variant) p.variant = c.variant
  if (c['os.version']) p['os.version'] = c['os.version']
  return p
}
