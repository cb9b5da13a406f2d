/** Validation of an OCI image layout directory: its files, its blob names, and every image it holds. */
import { createReadStream } from 'node:fs'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { Layout } from '../transports/layout.js'
import { isAlgorithmName, isEncodedName, isRegisteredAlgorithm } from '../oci/digest.js'
import { messageOf } from '../util/errors.js'
import { finding, type Finding } from './rules.js'
import { isObject } from '../oci/json.js'
import { parseDocument } from './json.js'
import { at, checkIndex, checkLayoutFile, digestFinding } from './document/index.js'
import { Walker, type WalkOptions } from './walker.js'
import { scanBlob } from './layer/scan.js'
import { MAX_DOCUMENT_BYTES } from '../oci/limits.js'

/** A blob's name in findings: `blobs/sha256/0123456789ab…`. */
export function layoutBlobName(digest: string): string {
  const [alg, enc] = digest.split(':', 2)
  return `blobs/${alg}/${enc && enc.length > 12 ? enc.slice(0, 12) + '…' : (enc ?? '')}`
}

/** A file's bytes, never more than MAX_DOCUMENT_BYTES + 1 of them (then it is too large to check). */
async function readBounded(file: string): Promise<Buffer> {
  const chunks: Buffer[] = []
  // `end` is inclusive: one byte past the limit tells a document that is too large.
  for await (const c of createReadStream(file, { end: MAX_DOCUMENT_BYTES }))
    chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

async function readFileOrFinding(
  file: string,
  rule: string,
  loc: string,
  out: Finding[]
): Promise<Buffer | undefined> {
  let bytes: Buffer
  try {
    bytes = await readBounded(file)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    out.push(
      finding(
        rule,
        loc,
        code === 'ENOENT' ? 'the file is missing' : `cannot be read: ${messageOf(err)}`
      )
    )
    return undefined
  }
  if (bytes.length <= MAX_DOCUMENT_BYTES) return bytes
  out.push(
    finding(
      'json-too-large',
      loc,
      `the file is larger than the ${MAX_DOCUMENT_BYTES} bytes (4 MiB) Lading reads of a document; reading stopped at byte ${MAX_DOCUMENT_BYTES + 1}, so nothing it holds or references was checked`
    )
  )
  return undefined
}

/** Whether a directory entry is a regular file, or a symlink that resolves to one (the spec is silent on links). */
async function isFileOrLinkToFile(dir: string, f: import('node:fs').Dirent): Promise<boolean> {
  if (f.isFile()) return true
  if (!f.isSymbolicLink()) return false
  try {
    return (await fs.stat(path.join(dir, f.name))).isFile()
  } catch {
    return false
  }
}

/** Returns the digests whose names are well formed and whose algorithm Lading can hash. */
async function checkBlobNames(root: string, out: Finding[]): Promise<string[]> {
  const named: string[] = []
  const blobs = path.join(root, 'blobs')
  let algs: import('node:fs').Dirent[]
  try {
    algs = await fs.readdir(blobs, { withFileTypes: true })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    out.push(
      finding(
        'layout-blobs-dir',
        'blobs',
        code === 'ENOENT' ? 'the directory is missing' : `cannot be read: ${messageOf(err)}`
      )
    )
    return named
  }
  for (const a of algs) {
    const loc = `blobs/${a.name}`
    if (!a.isDirectory()) {
      out.push(
        finding('layout-blob-name', loc, 'blobs/ holds only one directory per digest algorithm')
      )
      continue
    }
    if (!isAlgorithmName(a.name)) {
      out.push(finding('layout-blob-name', loc, `"${a.name}" is not a digest algorithm name`))
      continue
    }
    let files: import('node:fs').Dirent[]
    try {
      files = await fs.readdir(path.join(blobs, a.name), { withFileTypes: true })
    } catch (err) {
      out.push(finding('layout-blob-name', loc, `cannot be read: ${messageOf(err)}`))
      continue
    }
    let reported = 0
    for (const f of files) {
      const floc = `blobs/${a.name}/${f.name}`
      let why: string | undefined
      if (!(await isFileOrLinkToFile(path.join(blobs, a.name), f))) why = 'is not a regular file'
      else if (!isEncodedName(f.name)) why = `"${f.name}" is not an encoded digest`
      else {
        const p = digestFinding(`${a.name}:${f.name}`)
        if (p) why = p.why
        else if (isRegisteredAlgorithm(`${a.name}:${f.name}`)) named.push(`${a.name}:${f.name}`)
      }
      if (why && reported++ < 50) out.push(finding('layout-blob-name', floc, why))
    }
  }
  return named
}

/** image-layout.md: "The content of blobs/<alg>/<encoded> MUST match the digest", referenced or not. */
async function checkUnreadBlobs(
  root: string,
  digests: string[],
  hashed: Set<string>,
  out: Finding[]
): Promise<void> {
  let reported = 0
  for (const digest of digests) {
    if (hashed.has(digest)) continue
    const [alg, enc] = digest.split(':', 2)
    const file = path.join(root, 'blobs', alg, enc)
    const r = await scanBlob(createReadStream(file, { highWaterMark: 256 * 1024 }), {
      algorithm: alg,
      checkTar: false,
      location: layoutBlobName(digest)
    })
    if (r.readError !== undefined) {
      out.push(finding('blob-unreadable', layoutBlobName(digest), `cannot be read: ${r.readError}`))
      continue
    }
    const got = r.digest as string
    if (got !== digest && reported++ < 50)
      out.push(
        finding(
          'blob-digest-mismatch',
          `blobs/${alg}/${enc}`,
          `the file's content has digest ${got}, not the digest its name gives; no descriptor references it, but every blob must match its name`
        )
      )
  }
}

export async function walkLayout(dir: string, opts: WalkOptions): Promise<Finding[]> {
  const out: Finding[] = []
  try {
    const layoutBytes = await readFileOrFinding(
      path.join(dir, 'oci-layout'),
      'layout-oci-layout',
      'oci-layout',
      out
    )
    if (layoutBytes) {
      const p = parseDocument(layoutBytes, 'oci-layout')
      out.push(...p.findings)
      if (p.value !== undefined) checkLayoutFile(p.value, 'oci-layout', out)
    }
    const named = await checkBlobNames(dir, out)
    const indexBytes = await readFileOrFinding(
      path.join(dir, 'index.json'),
      'layout-index-json',
      'index.json',
      out
    )
    const hashed = new Set<string>()
    try {
      if (indexBytes) await walkIndex(dir, indexBytes, opts, hashed, out)
    } finally {
      await checkUnreadBlobs(dir, named, hashed, out)
    }
  } catch (err) {
    out.push(finding('blob-unreadable', dir, `the layout could not be read: ${messageOf(err)}`))
  }
  return out
}

async function walkIndex(
  dir: string,
  indexBytes: Buffer,
  opts: WalkOptions,
  hashed: Set<string>,
  out: Finding[]
): Promise<void> {
  const p = parseDocument(indexBytes, 'index.json')
  out.push(...p.findings)
  if (p.value === undefined) return
  checkIndex(p.value, 'index.json', out)
  if (
    isObject(p.value) &&
    p.value.mediaType !== undefined &&
    p.value.mediaType !== 'application/vnd.oci.image.index.v1+json'
  )
    out.push(
      finding(
        'layout-index-json',
        'index.json',
        `\`mediaType\` is ${JSON.stringify(p.value.mediaType)}; index.json must be an OCI image index`
      )
    )
  if (!isObject(p.value) || !Array.isArray(p.value.manifests)) return
  // Validation reads in smaller chunks: they are decompressed, and their tars parsed, at once.
  const walker = new Walker(new Layout(dir, { readChunk: 256 * 1024 }), opts, layoutBlobName)
  for (let i = 0; i < p.value.manifests.length; i++)
    await walker.entry(p.value.manifests[i], at('index.json', `manifests[${i}]`))
  out.push(...walker.findings)
  for (const d of walker.hashed) hashed.add(d)
}
