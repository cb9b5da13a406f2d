/** The `cache-from` input: images whose layers a build may reuse, one a line. */
import { LadingError } from '../util/errors.js'
import { parseSourceSpec, type SourceSpec } from '../transports/spec.js'
import { parseList } from './inputs.js'

export interface CacheImage {
  line: string
  spec: Exclude<SourceSpec, { kind: 'scratch' }>
}

/**
 * Each line read as a `from` line is (a registry reference, `oci:`, `oci-archive:`,
 * `docker-archive:`). A line that names no image is a usage error; an image that cannot be read
 * is only a warning, later, when the cache is opened.
 */
export function parseCacheFrom(value: string): CacheImage[] {
  return parseList(value).map(line => {
    let spec: SourceSpec
    try {
      spec = parseSourceSpec(line)
    } catch (err) {
      if (!(err instanceof LadingError)) throw err
      throw new LadingError(err.message.replace(/^from:/, 'cache-from:'))
    }
    if (spec.kind === 'scratch')
      throw new LadingError('cache-from: "scratch" has no layers; name an image')
    return { line, spec }
  })
}
