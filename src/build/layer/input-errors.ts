/**
 * Errors about a layer's source, worded as the user wrote the `layers` line: the line quoted, and
 * paths under SOURCE shown from SOURCE as given rather than from where it really is.
 */
import * as path from 'node:path'
import { LadingError, messageOf } from '../../util/errors.js'
import type { LayerInput } from './spec.js'

/** A LayerInput with where its SOURCE really is (symlinks resolved), once that is known. */
export interface LocatedInput extends LayerInput {
  realSource?: string
}

export function layerError(input: LayerInput, what: string): LadingError {
  const where = input.platforms?.length ? ` for ${input.platforms.join(', ')}` : ''
  return new LadingError(`layers: "${input.spec}"${where}: ${what}`)
}

/** A path under SOURCE as the user would write it: SOURCE as given, then the rest. */
export function shownPath(input: LocatedInput, p: string): string {
  if (p === input.source || !input.realSource) return p
  if (p === input.realSource) return input.source
  const rel = path.relative(input.realSource, p)
  if (rel.startsWith('..') || path.isAbsolute(rel)) return p
  return `${input.source.replace(/\/+$/, '')}/${rel}`
}

/** What the history shows for a source: relative paths as written, absolute ones by name only. */
export function shownSource(source: string): string {
  return path.isAbsolute(source) ? path.basename(source) : source
}

/** Bytes as text, printable ASCII kept and everything else as \xNN, for names that are not UTF-8. */
export function escapeBytes(b: Buffer): string {
  let out = ''
  for (const byte of b)
    out +=
      byte >= 0x20 && byte < 0x7f && byte !== 0x5c
        ? String.fromCharCode(byte)
        : `\\x${byte.toString(16).padStart(2, '0')}`
  return out
}

/** A failed file system call on a path under SOURCE, in words the user can act on. */
export function fileSystemError(input: LocatedInput, p: string, err: unknown): LadingError {
  const code = (err as NodeJS.ErrnoException).code
  const shown = shownPath(input, p)
  if (code === 'ENOENT' || code === 'ENOTDIR')
    return layerError(input, `path "${shown}" does not exist`)
  if (code === 'EACCES' || code === 'EPERM')
    return layerError(input, `path "${shown}" cannot be read (permission denied); make it readable`)
  return layerError(input, `reading "${shown}": ${messageOf(err)}`)
}

/** A file whose size on disk no longer matches its stat: its tar entry would be cut or padded. */
export function changedWhileRead(input: LocatedInput, abs: string): LadingError {
  return layerError(input, `file "${shownPath(input, abs)}" changed while it was being read; retry`)
}
