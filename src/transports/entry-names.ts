/** Names of archive entries: which are safe to extract, which are blobs, where links lead. */
import * as path from 'node:path'
import type * as tar from 'tar-stream'
import { LadingError } from '../util/errors.js'
import { encodedLength } from '../oci/digest.js'

/**
 * The normalised name of an archive entry, or undefined for the archive root. Entries that would
 * land outside the extraction directory are refused: an archive that holds one was made to attack
 * whoever extracts it, and nothing of it is used.
 */
export function safeEntryName(raw: string, from: string): string | undefined {
  if (raw.startsWith('/') || /^[A-Za-z]:[\\/]/.test(raw))
    throw new LadingError(
      `from "${from}": the archive has an entry with an absolute path "${raw}"; refusing to extract it`
    )
  const norm = path.posix.normalize(raw).replace(/\/+$/, '')
  if (norm === '..' || norm.startsWith('../'))
    throw new LadingError(
      `from "${from}": the archive has an entry "${raw}" that points outside the archive; refusing to extract it`
    )
  return norm === '.' || norm === '' ? undefined : norm
}

/** The algorithm a `blobs/ALG/HEX` name promises, when the name is one. */
export function blobAlgorithm(name: string): string | undefined {
  const m = /^blobs\/([a-z0-9]+)\/([a-f0-9]+)$/.exec(name)
  return m && encodedLength(m[1]) === m[2].length ? m[1] : undefined
}

/** Symlink targets are relative to the link's directory; hard link targets to the archive root. */
export function linkTarget(name: string, h: tar.Header): string | undefined {
  const target = h.linkname ?? ''
  const joined =
    h.type === 'symlink'
      ? path.posix.join(path.posix.dirname(name), target)
      : path.posix.normalize(target)
  const norm = path.posix.normalize(joined)
  const inside = !target.startsWith('/') && norm !== '..' && !norm.startsWith('../')
  return inside ? norm : undefined
}
