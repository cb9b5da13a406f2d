/**
 * The `annotations` input, with the levels buildx defines (`manifest`, `index`,
 * `manifest-descriptor`, `index-descriptor`) and docker/metadata-action's optional platform
 * selector: `manifest[linux/amd64]:KEY=VALUE`. Manifest and index annotations go into those
 * documents; descriptor annotations onto the descriptors that point at them: a manifest's entry in
 * the index (or the layout's index.json entry when the image has no index), and the root's entry
 * in index.json.
 */
import { LadingError } from '../util/errors.js'
import { formatPlatform, parsePlatform, platformMatches } from '../oci/platform.js'
import type { Platform } from '../oci/types.js'

export type AnnotationLevel = 'manifest' | 'index' | 'manifest-descriptor' | 'index-descriptor'

/** A manifest or manifest-descriptor annotation for the platforms its selector matches. */
export interface ScopedAnnotation {
  level: 'manifest' | 'manifest-descriptor'
  platforms: Platform[]
  key: string
  value: string
  /** The input line, for messages. */
  line: string
}

export interface Annotations {
  /** For every platform's manifest. */
  manifest: Record<string, string>
  index: Record<string, string>
  manifestDescriptor: Record<string, string>
  indexDescriptor: Record<string, string>
  /** Platform-scoped ones; on their platforms they win over the unscoped of the same key. */
  scoped: ScopedAnnotation[]
}

const LEVEL = 'manifest-descriptor|index-descriptor|manifest|index'
const PREFIX = new RegExp(`^((?:${LEVEL})(?:,(?:${LEVEL}))*)(?:\\[([^\\]]*)\\])?:(.*)$`)

export function emptyAnnotations(): Annotations {
  return { manifest: {}, index: {}, manifestDescriptor: {}, indexDescriptor: {}, scoped: [] }
}

/** Parses `[LEVEL[,LEVEL…][\[PLATFORM,…\]]:]KEY=VALUE` lines; no prefix means `manifest`. */
export function parseAnnotations(lines: string[]): Annotations {
  const out = emptyAnnotations()
  for (const line of lines) {
    const eq = line.indexOf('=')
    if (eq <= 0) throw new LadingError(`annotations: "${line}" is not key=value`)
    const [prefixed, value] = [line.slice(0, eq).trim(), line.slice(eq + 1)]
    const m = PREFIX.exec(prefixed)
    const levels = (m ? m[1].split(',') : ['manifest']) as AnnotationLevel[]
    const key = m ? m[3].trim() : prefixed
    if (!key) throw new LadingError(`annotations: "${line}" has no key after its level`)
    const platforms = m?.[2] === undefined ? undefined : selectorPlatforms(line, m[2])
    for (const level of new Set(levels)) {
      if (!platforms) {
        out[recordOf(level)][key] = value
        continue
      }
      if (level === 'index' || level === 'index-descriptor')
        throw new LadingError(
          `annotations: "${line}": ${level} annotations are for the one index, so they take no [platform]; ` +
            'a platform selector goes with manifest or manifest-descriptor'
        )
      out.scoped.push({ level, platforms, key, value, line })
    }
  }
  return out
}

function recordOf(level: AnnotationLevel): Exclude<keyof Annotations, 'scoped'> {
  if (level === 'manifest-descriptor') return 'manifestDescriptor'
  if (level === 'index-descriptor') return 'indexDescriptor'
  return level
}

function selectorPlatforms(line: string, selector: string): Platform[] {
  const items = selector.split(',').map(s => s.trim())
  if (items.some(s => s === ''))
    throw new LadingError(
      `annotations: "${line}": the platform selector [${selector}] is empty; write e.g. manifest[linux/amd64]:KEY=VALUE`
    )
  return items.map(s => {
    try {
      return parsePlatform(s)
    } catch (err) {
      throw new LadingError(`annotations: "${line}": ${(err as Error).message}`)
    }
  })
}

/** A platform-scoped annotation for a platform the image lacks is a mistake, not a no-op. */
export function checkAnnotationPlatforms(a: Annotations, platforms: Platform[]): void {
  for (const s of a.scoped)
    for (const want of s.platforms)
      if (!platforms.some(p => platformMatches(want, p)))
        throw new LadingError(
          `annotations: "${s.line}" is for ${formatPlatform(want)}, which the image does not have ` +
            `(it has ${platforms.map(formatPlatform).join(', ')})`
        )
}

function scopedFor(a: Annotations, level: ScopedAnnotation['level'], p: Platform) {
  const out: Record<string, string> = {}
  for (const s of a.scoped)
    if (s.level === level && s.platforms.some(want => platformMatches(want, p)))
      out[s.key] = s.value
  return out
}

/** The annotations the user gives the manifest of platform `p`. */
export function manifestAnnotationsFor(a: Annotations, p: Platform): Record<string, string> {
  return { ...a.manifest, ...scopedFor(a, 'manifest', p) }
}

/** The annotations of the descriptor of platform `p`'s manifest. */
export function manifestDescriptorAnnotationsFor(
  a: Annotations,
  p: Platform
): Record<string, string> {
  return { ...a.manifestDescriptor, ...scopedFor(a, 'manifest-descriptor', p) }
}

/** Whether any annotation goes on the descriptors of manifests: the index must be made anew. */
export function hasManifestDescriptorAnnotations(a: Annotations): boolean {
  return (
    Object.keys(a.manifestDescriptor).length > 0 ||
    a.scoped.some(s => s.level === 'manifest-descriptor')
  )
}
