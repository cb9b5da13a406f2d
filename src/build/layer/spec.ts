/** The `layers` input: one line per layer, `SOURCE[:DEST]`. */
import { existsSync } from 'node:fs'
import { LadingError } from '../../util/errors.js'

export interface LayerInput {
  source: string
  dest?: string
  /** The raw `SOURCE[:DEST]` line, quoted in messages. */
  spec: string
}

/** The extensions that make a file a tarball to use as a layer rather than a file to put in one. */
const TARBALL = /\.(tar|tar\.gz|tgz|tar\.zst|tar\.zstd|tzst|tar\.xz|txz|tar\.bz2|tbz2?)$/i

export function isTarballName(source: string): boolean {
  return TARBALL.test(source)
}

/** Parses one line of the `layers` input, `SOURCE[:DEST]`. */
export function parseLayerSpec(line: string): LayerInput {
  const spec = line.trim()
  if (!spec) throw new LadingError('layers: an empty line is not a layer; write SOURCE[:DEST]')
  // A name that holds ':' itself, such as "notes:v2.txt", is a SOURCE with no DEST.
  if (existsSync(spec)) return { source: spec, spec }
  // The last ':' before a '/' separates DEST, so sources may hold ':' themselves.
  let cut = spec.lastIndexOf(':/')
  if (cut < 0 && spec.includes(':')) cut = spec.lastIndexOf(':')
  if (cut < 0) return { source: spec, spec }
  const source = spec.slice(0, cut)
  const dest = spec.slice(cut + 1)
  if (!source)
    throw new LadingError(`layers: "${spec}": SOURCE is empty; write SOURCE[:DEST], e.g. dist:/app`)
  if (!dest.startsWith('/'))
    throw new LadingError(
      `layers: "${spec}": DEST "${dest}" must be an absolute path in the image, e.g. ${source}:/${dest || 'app'}`
    )
  return { source, dest, spec }
}
