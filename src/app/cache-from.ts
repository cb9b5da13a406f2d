/** The `cache-from` input: images whose layers a build may reuse, one a line. */
import { LadingError } from '../util/errors.js'
import { parseSourceSpec, type SourceSpec } from '../transports/spec.js'
import { parseList } from './inputs.js'

export interface CacheImage {
  line: string
  spec: Exclude<SourceSpec, { kind: 'scratch' }>
}

/** What the input holds: the images to read, and lines that name a cache Lading cannot read. */
export interface CacheFrom {
  images: CacheImage[]
  /** Each line left out, with why: a warning when the run starts, never a failure. */
  skipped: { line: string; why: string }[]
}

/**
 * Each line read as a `from` line is (a registry reference, `oci:`, `oci-archive:`,
 * `docker-archive:`), or as docker/build-push-action writes its `cache-from`: `type=registry,
 * ref=REF` is REF, `type=local,src=DIR` the OCI layout DIR. A cache of another type (`gha`, `s3`,
 * ...) is BuildKit's own format: the line is left out with a warning, as an unreadable image is.
 * A line that names no image is a usage error.
 */
export function parseCacheFrom(
  value: string,
  /** Sees each line that is not in buildx's form before it is read as a `from` line. */
  checkLine: (line: string) => void = () => {}
): CacheFrom {
  const out: CacheFrom = { images: [], skipped: [] }
  for (const line of parseList(value)) {
    const named = buildxLine(line)
    if (named && 'why' in named) {
      out.skipped.push({ line, why: named.why })
      continue
    }
    if (!named) checkLine(line)
    let spec: SourceSpec
    try {
      spec = parseSourceSpec(named ? named.source : line)
    } catch (err) {
      if (!(err instanceof LadingError)) throw err
      const message = err.message.replace(/^from: /, '')
      // A line in buildx's form is named whole: the reference alone may not show where it was.
      throw new LadingError(`cache-from: ${named ? `${quoted(line)}: ` : ''}${message}`)
    }
    if (spec.kind === 'scratch')
      throw new LadingError('cache-from: "scratch" has no layers; name an image')
    out.images.push({ line, spec })
  }
  return out
}

/** A name for a line in an error: JSON-quoted, which shows stray spaces and control bytes. */
function quoted(line: string): string {
  return JSON.stringify(line)
}

/**
 * A line in buildx's form, `key=value` pairs split by commas with `type` or `ref` among them:
 * the source it names, or why it is left out. Undefined for any other line (an image reference
 * has no `=` in its first comma-separated part).
 */
function buildxLine(line: string): { source: string } | { why: string } | undefined {
  const parts = line.split(',')
  if (!/^(type|ref|src)=/.test(parts[0])) return undefined
  const attrs = new Map<string, string>()
  for (const part of parts) {
    const eq = part.indexOf('=')
    if (eq <= 0)
      throw new LadingError(
        `cache-from: ${quoted(line)}: "${part.trim()}" is not key=value, as in type=registry,ref=IMAGE`
      )
    const key = part.slice(0, eq).trim()
    if (attrs.has(key))
      throw new LadingError(`cache-from: ${quoted(line)}: "${key}" is given twice`)
    attrs.set(key, part.slice(eq + 1).trim())
  }
  const type = attrs.get('type') ?? (attrs.has('src') ? 'local' : 'registry')
  const need = (key: string): string => {
    const v = attrs.get(key)
    if (!v) throw new LadingError(`cache-from: ${quoted(line)}: type=${type} needs ${key}=`)
    return v
  }
  if (type === 'registry') return { source: need('ref') }
  if (type === 'local') return { source: `oci:${need('src')}` }
  return {
    why:
      `type=${type} is a BuildKit cache store, which Lading cannot read; ` +
      'name the previous push (type=registry,ref=IMAGE, or the image itself) instead'
  }
}
