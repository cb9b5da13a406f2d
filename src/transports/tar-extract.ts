import { createReadStream, createWriteStream } from 'node:fs'
import * as fs from 'node:fs/promises'
import * as os from 'node:os'
import * as path from 'node:path'
import type { TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import * as tar from 'tar-stream'
import { LadingError, messageOf } from '../util/errors.js'
import { HashingStream, encodedLength } from '../oci/digest.js'
import type { Temps } from '../util/temps.js'
import { createDecompressor, readableCompression } from '../codec/decompress.js'

/** A regular file taken out of an archive: where it is now, and what was measured on the way. */
export interface ExtractedFile {
  /** Absolute path on disk. */
  file: string
  size: number
  /** Digest of the bytes as stored (sha256, or the algorithm a `blobs/ALG/HEX` name says). */
  digest: string
  /** The first bytes, to tell a compressed file from a plain one without reading it again. */
  head: Buffer
}

export interface Extracted {
  dir: string
  /** Regular files (and links that resolve to them) by normalised archive name. */
  files: Map<string, ExtractedFile>
}

export async function makeTempDir(temps: Temps): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lading-src-'))
  temps.track(dir)
  return dir
}

/** Hashes, counts and keeps the first bytes of what flows through. */
class Measuring extends HashingStream {
  head = Buffer.alloc(0)

  override _transform(chunk: Buffer, enc: BufferEncoding, cb: TransformCallback): void {
    if (this.head.length < 8)
      this.head = Buffer.concat([this.head, chunk.subarray(0, 8 - this.head.length)])
    super._transform(chunk, enc, cb)
  }
}

/**
 * The normalised name of an archive entry, or undefined for the archive root. Entries that would
 * land outside the extraction directory are refused: an archive must not write where it likes.
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
function blobAlgorithm(name: string): string | undefined {
  const m = /^blobs\/([a-z0-9]+)\/([a-f0-9]+)$/.exec(name)
  return m && encodedLength(m[1]) === m[2].length ? m[1] : undefined
}

async function sniffFile(file: string): Promise<Buffer> {
  const fh = await fs.open(file, 'r')
  try {
    const buf = Buffer.alloc(8)
    const { bytesRead } = await fh.read(buf, 0, 8, 0)
    return buf.subarray(0, bytesRead)
  } finally {
    await fh.close()
  }
}

/**
 * Extracts the tar (plain, gzip or zstd, told apart by magic bytes) at `archive` into `dest`, one
 * entry at a time straight to disk: no blob is ever held in memory. Every `blobs/ALG/HEX` entry
 * is checked against its name as it is written. Symbolic and hard links are not recreated on
 * disk (they could point anywhere); those that resolve to a regular file inside the archive are
 * materialised as hard links in `dest`.
 */
export async function extractArchive(
  archive: string,
  dest: string,
  from: string
): Promise<Extracted> {
  let head: Buffer
  try {
    head = await sniffFile(archive)
  } catch (err) {
    throw new LadingError(`from "${from}": cannot read ${archive}: ${messageOf(err)}`)
  }
  const compression = readableCompression(head)
  const files = new Map<string, ExtractedFile>()
  const links = new Map<string, string | undefined>()
  const dirs = new Set<string>()

  const extract = tar.extract()
  const source = createReadStream(archive)
  const feeding = (
    compression === 'none'
      ? pipeline(source, extract)
      : pipeline(source, createDecompressor(compression), extract)
  ).catch((err: unknown) => err)

  const notTar = (err: unknown): LadingError =>
    err instanceof LadingError
      ? err
      : new LadingError(
          `from "${from}": ${archive} is not a readable tar archive` +
            (compression === 'none' ? '' : ` (${compression}-compressed)`) +
            `: ${messageOf(err)}`
        )

  try {
    for await (const entry of extract) {
      const h = entry.header
      const name = safeEntryName(h.name, from)
      if (!name) {
        entry.resume()
        continue
      }
      if (h.type === 'symlink' || h.type === 'link') {
        entry.resume()
        // Symlink targets are relative to the link's directory; hard link targets to the root.
        const target = h.linkname ?? ''
        const joined =
          h.type === 'symlink'
            ? path.posix.join(path.posix.dirname(name), target)
            : path.posix.normalize(target)
        const norm = path.posix.normalize(joined)
        const inside = !target.startsWith('/') && norm !== '..' && !norm.startsWith('../')
        links.set(name, inside ? norm : undefined)
        files.delete(name)
        continue
      }
      if (h.type !== 'file' && h.type !== 'contiguous-file') {
        entry.resume()
        continue
      }
      const file = path.join(dest, ...name.split('/'))
      const parent = path.dirname(file)
      if (!dirs.has(parent)) {
        await fs.mkdir(parent, { recursive: true })
        dirs.add(parent)
      }
      const alg = blobAlgorithm(name)
      const m = new Measuring(alg ?? 'sha256')
      await pipeline(entry, m, createWriteStream(file))
      // A blob that does not match its name is kept: validation reports it with everything else
      // that is wrong, instead of stopping at the first corrupt blob.
      const digest = m.digest()
      files.set(name, { file, size: m.size, digest, head: m.head })
      links.delete(name)
    }
    const fed = await feeding
    if (fed) throw fed
  } catch (err) {
    source.destroy()
    extract.destroy()
    await feeding
    throw notTar(err)
  }

  for (const [name, target] of links) {
    let t = target
    for (let hops = 0; t !== undefined && !files.has(t) && hops < 16; hops++) t = links.get(t)
    const rec = t === undefined ? undefined : files.get(t)
    if (!rec) continue
    const file = path.join(dest, ...name.split('/'))
    await fs.mkdir(path.dirname(file), { recursive: true })
    await fs.rm(file, { force: true })
    await fs.link(rec.file, file)
    files.set(name, { ...rec, file })
  }
  return { dir: dest, files }
}
