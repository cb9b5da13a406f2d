import { LadingError } from '../util/errors.js'
import { isDigest } from '../oci/digest.js'
import { parseReference } from '../oci/reference.js'

/** Where a `from:` line says the base image lives. */
export type SourceSpec =
  | { kind: 'scratch' }
  | { kind: 'oci'; path: string; ref?: string }
  | { kind: 'oci-archive'; path: string; ref?: string }
  | { kind: 'docker-archive'; path: string; ref?: string }
  | { kind: 'registry'; reference: string }
  /** An image of the local Docker, read through `docker save`. */
  | { kind: 'docker-daemon'; image: string }

/**
 * Transports of other tools (skopeo, podman) that a user may write out of habit. Named here so
 * `dir:x` gets a clear answer instead of being read as the Docker Hub image "dir" with tag "x".
 */
const FOREIGN_TRANSPORTS = new Set(['dir', 'containers-storage', 'ostree', 'sif', 'tarball'])

const USE =
  'use scratch, oci:, oci-archive:, docker-archive:, docker-daemon: or a registry reference'

/**
 * Splits `PATH[:REF]` of the layout transports. A path may itself contain ':', so the part after
 * the last ':' is a REF only when it could not be part of a path (no '/' or '\'), or when the
 * path ends with a whole digest.
 */
function splitPathRef(rest: string): { path: string; ref?: string } {
  const i = rest.lastIndexOf(':')
  // A digest REF has a ':' of its own.
  const digestStart = i > 0 ? rest.lastIndexOf(':', i - 1) : -1
  if (digestStart > 0 && isDigest(rest.slice(digestStart + 1)))
    return { path: rest.slice(0, digestStart), ref: rest.slice(digestStart + 1) }
  if (i > 0) {
    const after = rest.slice(i + 1)
    if (!/[/\\]/.test(after)) {
      const path = rest.slice(0, i)
      return after ? { path, ref: after } : { path }
    }
  }
  return { path: rest }
}

/**
 * `docker-archive:PATH[:REPO:TAG]`, as skopeo writes it. The reference may contain '/' and ':',
 * so the path ends at the first ':' after which a valid reference follows.
 */
function splitPathDockerRef(rest: string): { path: string; ref?: string } {
  for (let i = rest.indexOf(':'); i > 0; i = rest.indexOf(':', i + 1)) {
    const ref = rest.slice(i + 1)
    if (!ref) return { path: rest.slice(0, i) }
    try {
      parseReference(ref)
      return { path: rest.slice(0, i), ref }
    } catch {
      // not a reference: this ':' belongs to the path
    }
  }
  return { path: rest }
}

export function parseSourceSpec(line: string): SourceSpec {
  const s = line.trim()
  if (!s) throw new LadingError(`from: is empty; ${USE}`)
  if (s === 'scratch') return { kind: 'scratch' }

  for (const kind of ['oci-archive', 'oci', 'docker-archive'] as const) {
    const prefix = `${kind}:`
    if (!s.startsWith(prefix)) continue
    const rest = s.slice(prefix.length)
    const parts = kind === 'docker-archive' ? splitPathDockerRef(rest) : splitPathRef(rest)
    if (!parts.path)
      throw new LadingError(`from: "${line}": ${kind}: needs a path, as in ${kind}:./image`)
    return { kind, ...parts }
  }

  if (s.startsWith('docker-daemon:')) {
    const image = s.slice('docker-daemon:'.length).trim()
    // Docker takes a name, a name:tag, a name@digest or an image ID; a flag would be read as one.
    if (!image || image.startsWith('-') || /\s/.test(image))
      throw new LadingError(
        `from: "${line}": docker-daemon: needs an image of the local Docker, as in docker-daemon:app:1`
      )
    return { kind: 'docker-daemon', image }
  }

  if (s.startsWith('docker://')) {
    parseReference(s)
    return { kind: 'registry', reference: s.slice('docker://'.length) }
  }

  const word = /^([A-Za-z][A-Za-z0-9+_-]*):/.exec(s)?.[1]
  if (word && FOREIGN_TRANSPORTS.has(word))
    throw new LadingError(`from: "${line}": unknown transport "${word}"; ${USE}`)
  try {
    parseReference(s)
  } catch (err) {
    // A bare word before ':' that is not a host (no '.', not localhost) reads as a transport.
    if (word && word !== 'localhost')
      throw new LadingError(`from: "${line}": unknown transport "${word}"; ${USE}`)
    throw err
  }
  return { kind: 'registry', reference: s }
}
