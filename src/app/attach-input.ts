/**
 * The `attach` input: one `PATH[:ARTIFACT_TYPE]` a line, each file to become an OCI 1.1 artifact
 * whose subject is the image. Without a type, the file's name says what it most likely is.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import { LadingError } from '../util/errors.js'
import { driveLength } from '../util/drive.js'
import { parseList } from './inputs.js'

export interface AttachFile {
  /** absolute path of the file */
  path: string
  /** the media type of its one layer, and the artifact's `artifactType` */
  mediaType: string
}

const MEDIA_TYPE =
  /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/

/** Media types by the end of a file name, the more specific suffixes first. */
const BY_SUFFIX: Array<[string, string]> = [
  ['.spdx.json', 'application/spdx+json'],
  ['.cdx.json', 'application/vnd.cyclonedx+json'],
  ['.intoto.jsonl', 'application/vnd.in-toto+json'],
  ['.sigstore.json', 'application/vnd.dev.sigstore.bundle.v0.3+json'],
  ['.sarif', 'application/sarif+json'],
  ['.json', 'application/json'],
  ['.txt', 'text/plain'],
  ['.md', 'text/markdown'],
  ['.html', 'text/html'],
  ['.xml', 'application/xml'],
  ['.tar.gz', 'application/gzip'],
  ['.tgz', 'application/gzip'],
  ['.zip', 'application/zip']
]

export function guessMediaType(file: string): string {
  const name = path.basename(file).toLowerCase()
  return BY_SUFFIX.find(([suffix]) => name.endsWith(suffix))?.[1] ?? 'application/octet-stream'
}

export function parseAttach(value: string, cwd: string): AttachFile[] {
  return parseList(value).map(line => {
    // The type follows the last colon when it is one; otherwise the colon belongs to the path.
    // A drive's colon (`C:\sbom.json`) is the path's.
    const colon = line.lastIndexOf(':')
    const split = colon > 0 && colon >= driveLength(line)
    const typed = split && MEDIA_TYPE.test(line.slice(colon + 1))
    const file = path.resolve(cwd, typed ? line.slice(0, colon) : line)
    const mediaType = typed ? line.slice(colon + 1) : guessMediaType(file)
    if (!typed && split && !fs.existsSync(file))
      throw new LadingError(
        `attach: "${line.slice(colon + 1)}" in "${line}" is not a media type (type/subtype, RFC 6838)`
      )
    let st
    try {
      st = fs.statSync(file)
    } catch {
      throw new LadingError(`attach: "${line}": the file ${file} does not exist`)
    }
    if (!st.isFile()) throw new LadingError(`attach: "${line}": ${file} is not a regular file`)
    return { path: file, mediaType }
  })
}
