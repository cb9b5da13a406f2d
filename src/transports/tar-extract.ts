/**
 * Taking an image out of a tar archive (an oci-archive, a `docker save` tarball) with the disk it
 * uses bounded by what the image declares. What the image needs is learnt from its own documents
 * (index.json, manifests, manifest.json), which may come anywhere in the archive, so extraction
 * runs in passes: the first writes every entry that may be part of the image while a budget tied
 * to the archive's own size lasts; the graph is then read from what was written; a further pass
 * takes only the entries the image needs that the first one skipped, each stopped at its declared
 * size. Entries that are not part of the image are counted and reported, and not kept.
 */
import { createReadStream, createWriteStream, mkdirSync } from 'node:fs'
import * as fs from 'node:fs/promises'
import * as os from 'node:os'
import * as path from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import * as tar from 'tar-stream'
import { LadingError, messageOf } from '../util/errors.js'
import { Measuring, StopAt } from './entry-streams.js'
import { blobAlgorithm, linkTarget, safeEntryName } from './entry-names.js'
import { MAX_DOCUMENT_BYTES } from '../oci/limits.js'
import type { Temps } from '../util/temps.js'
import { createDecompressor, readableCompression } from '../codec/decompress.js'
import type { Compression } from '../oci/mediatypes.js'
import { clipped } from '../util/listing.js'

/**
 * Bytes the first pass may write, per byte of the archive file, before the image's documents say
 * what it needs. A plain tar never holds more than its own size; a compressed one holds about as
 * much when its layers are compressed already. A decompression bomb (a few KB of zstd that
 * expand to gigabytes) is stopped by it: what does not fit is only written once a document
 * declares it, and then only up to its declared size.
 */
export const ARCHIVE_EXPANSION_LIMIT = 4

/** Passes over an archive at most: one per level of its graph, which walkGraph bounds anyway. */
const MAX_EXTRACT_PASSES = 24

/** Names of entries not part of the image that the warning lists. */
const LISTED_FOREIGN = 3

/** One entry of an archive being read: its header and its body. */
type TarEntry = tar.ExtractEvents['entry'][1]

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

/** What was extracted so far, as the rules of an archive format read it to learn what it needs. */
export interface ExtractedView {
  /** The file an entry name stands for, through the archive's links. */
  get(name: string): ExtractedFile | undefined
}

/** What one archive format (oci-archive, docker-archive) keeps of an archive. */
export interface ArchiveRules {
  /** Whether an entry by this name may be part of the image; no other entry is ever written. */
  accepts(name: string): boolean
  /** Entries the format always has that are no part of the image (docker save's `repositories`). */
  expected(name: string): boolean
  /** Names whose presence the opener asks about (whether they were kept or not). */
  hints: readonly string[]
  /** Entries that are documents: one over MAX_DOCUMENT_BYTES is an error. */
  isDocument(name: string): boolean
  /** The entries the image needs, by name, with the size the image declares where it does. */
  wanted(view: ExtractedView): Promise<Map<string, number | undefined>>
}

export interface Extracted {
  dir: string
  /** The entries the image needs that the archive holds, by normalised archive name. */
  files: Map<string, ExtractedFile>
  /** Whether the archive holds an entry named in `rules.hints`, kept or not. */
  seen(name: string): boolean
  /** What the run should be told: entries that are not part of the image. */
  warnings: string[]
  /** Bytes written to disk while extracting, including what was then removed. */
  written: number
}

export async function makeTempDir(temps: Temps): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lading-src-'))
  temps.track(dir)
  return dir
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

/** Entries that are not part of the image: how many, how big, the first few names. */
class Foreign {
  count = 0
  bytes = 0
  readonly names: string[] = []

  add(name: string, size: number): void {
    this.count++
    this.bytes += size
    if (this.names.length < LISTED_FOREIGN) this.names.push(clipped(name, 100))
  }

  warning(from: string, archive: string): string[] {
    if (this.count === 0) return []
    const listed = this.names.map(n => JSON.stringify(n)).join(', ')
    const more = this.count > this.names.length ? ', …' : ''
    return [
      `from "${from}": ${this.count} entr${this.count === 1 ? 'y' : 'ies'} of ${archive} ` +
        `(${this.bytes} bytes) ${this.count === 1 ? 'is' : 'are'} not part of the image and ` +
        `${this.count === 1 ? 'was' : 'were'} not kept: ${listed}${more}`
    ]
  }
}

/** One extraction: the archive, where it goes, and what each pass learnt. */
class Extraction {
  readonly files = new Map<string, ExtractedFile>()
  /** Links by name: the normalised target inside the archive, or undefined when it leads out. */
  readonly links = new Map<string, string | undefined>()
  /** Entries the first pass did not write (over budget), by name, with their tar size. */
  readonly skipped = new Map<string, number>()
  /** The names of `rules.hints` the archive holds. */
  readonly hinted = new Set<string>()
  readonly foreign = new Foreign()
  /** Bytes written to disk in all passes, kept or not. */
  written = 0
  private readonly dirs = new Set<string>()
  private budget: number

  constructor(
    readonly archive: string,
    readonly dest: string,
    readonly from: string,
    readonly rules: ArchiveRules,
    archiveSize: number,
    readonly compression: Compression
  ) {
    this.budget = archiveSize * ARCHIVE_EXPANSION_LIMIT
  }

  /** The file `name` stands for, following links inside the archive (a bounded number of hops). */
  resolve(name: string): { name: string; rec?: ExtractedFile } {
    let n: string | undefined = name
    for (let hops = 0; n !== undefined && hops < 16; hops++) {
      const rec = this.files.get(n)
      if (rec || !this.links.has(n)) return { name: n, rec }
      n = this.links.get(n)
    }
    return { name }
  }

  /** The first pass: every entry the rules accept, while the budget lasts. */
  async firstPass(): Promise<void> {
    await this.pass(true, async (entry, name) => {
      const h = entry.header
      if (!this.rules.accepts(name)) {
        if (!this.rules.expected(name)) this.foreign.add(name, h.size ?? 0)
        return false
      }
      if (h.type === 'symlink' || h.type === 'link') {
        this.links.set(name, linkTarget(name, h))
        this.skipped.delete(name)
        await this.forget(name)
        return false
      }
      const size = h.size ?? 0
      if (this.rules.isDocument(name) && size > MAX_DOCUMENT_BYTES)
        throw new LadingError(
          `from "${this.from}": ${name} in ${this.archive} has ${size} bytes, more than the ` +
            `${MAX_DOCUMENT_BYTES} bytes (MAX_DOCUMENT_BYTES) Lading reads of a document`
        )
      this.links.delete(name)
      if (size > this.budget) {
        // A later entry of the same name replaces an earlier one, in a tar as on disk.
        await this.forget(name)
        this.skipped.set(name, size)
        return false
      }
      this.budget -= size
      this.skipped.delete(name)
      await this.write(entry, name)
      return true
    })
  }

  /** A later pass: only the entries in `need`, each stopped at its declared size. */
  async laterPass(need: Map<string, number | undefined>): Promise<void> {
    await this.pass(false, async (entry, name) => {
      if (!need.has(name) || entry.header.type === 'symlink' || entry.header.type === 'link')
        return false
      await this.write(entry, name, need.get(name))
      this.skipped.delete(name)
      return true
    })
  }

  private async forget(name: string): Promise<void> {
    const rec = this.files.get(name)
    if (!rec) return
    this.files.delete(name)
    await fs.rm(rec.file, { force: true })
  }

  private async write(entry: TarEntry, name: string, declared?: number): Promise<void> {
    const file = path.join(this.dest, ...name.split('/'))
    const parent = path.dirname(file)
    const m = new Measuring(blobAlgorithm(name) ?? 'sha256')
    const stages = declared === undefined ? [m] : [new StopAt(declared), m]
    try {
      // Synchronously: an entry that fails (the archive ends) before the pipeline reads it would
      // never tell a pipeline attached after an await.
      if (!this.dirs.has(parent)) {
        mkdirSync(parent, { recursive: true })
        this.dirs.add(parent)
      }
      // tar-stream's entries are streamx streams, which Node's pipeline takes as they are.
      await pipeline([entry as unknown as Readable, ...stages, createWriteStream(file)])
    } catch (err) {
      // A failed system call is the disk's; anything else is the archive's (it ends too soon).
      if (!(err as NodeJS.ErrnoException).syscall) throw err
      throw new LadingError(
        `from "${this.from}": cannot extract ${name} from ${this.archive} into ${this.dest}: ` +
          messageOf(err)
      )
    }
    // A blob that does not match its name is kept: validation reports it with everything else
    // that is wrong, instead of stopping at the first corrupt blob.
    this.written += m.size
    this.files.set(name, { file, size: m.size, digest: m.digest(), head: m.head })
  }

  /**
   * One read of the archive: `take` sees each regular file or link entry that has a safe name and
   * says whether it consumed the body. In the first pass anything else (a device, a fifo, a name
   * that leads out) is counted as not part of the image; directories are made as files need them.
   */
  private async pass(
    first: boolean,
    take: (entry: TarEntry, name: string) => Promise<boolean>
  ): Promise<void> {
    const extract = tar.extract()
    const source = createReadStream(this.archive)
    const stages =
      this.compression === 'none'
        ? [source, extract]
        : [source, createDecompressor(this.compression), extract]
    const feeding = pipeline(stages).catch((err: unknown) => err)
    try {
      for await (const entry of extract) {
        const h = entry.header
        const name = safeEntryName(h.name, this.from)
        if (first && name !== undefined && this.rules.hints.includes(name)) this.hinted.add(name)
        const kind = h.type
        const wanted = ['file', 'contiguous-file', 'symlink', 'link'].includes(kind ?? '')
        let consumed = false
        if (name !== undefined && wanted) consumed = await take(entry, name)
        else if (first && kind !== 'directory') this.foreign.add(h.name, h.size ?? 0)
        if (!consumed) entry.resume()
      }
      const fed = await feeding
      if (fed) throw fed
    } catch (err) {
      source.destroy()
      extract.destroy()
      await feeding
      throw this.notTar(err)
    }
  }

  private notTar(err: unknown): LadingError {
    if (err instanceof LadingError) return err
    return new LadingError(
      `from "${this.from}": ${this.archive} is not a readable tar archive` +
        (this.compression === 'none' ? '' : ` (${this.compression}-compressed)`) +
        `: ${messageOf(err)}`
    )
  }
}

/**
 * Extracts from the tar (plain, gzip or zstd, told apart by magic bytes) at `archive` into `dest`
 * what `rules` say the image needs, one entry at a time straight to disk: no blob is ever held
 * in memory, and no entry is written that the rules do not accept. Every `blobs/ALG/HEX` entry is
 * hashed with its name's algorithm as it is written. Links are not recreated as links (they
 * could point anywhere); a needed one that resolves to a regular file inside the archive is made
 * a hard link to it.
 */
export async function extractArchive(
  archive: string,
  dest: string,
  from: string,
  rules: ArchiveRules
): Promise<Extracted> {
  let head: Buffer
  let size: number
  try {
    head = await sniffFile(archive)
    size = (await fs.stat(archive)).size
  } catch (err) {
    throw new LadingError(`from "${from}": cannot read ${archive}: ${messageOf(err)}`)
  }
  const x = new Extraction(archive, dest, from, rules, size, readableCompression(head))
  await x.firstPass()
  const view: ExtractedView = { get: name => x.resolve(name).rec }
  let wanted = await rules.wanted(view)
  for (let passes = 1; ; passes++) {
    const need = new Map<string, number | undefined>()
    for (const [name, declared] of wanted) {
      const target = x.resolve(name).name
      if (x.skipped.has(target)) need.set(target, declared)
    }
    if (need.size === 0) break
    if (passes >= MAX_EXTRACT_PASSES)
      throw new LadingError(
        `from "${from}": ${archive} still lacks ${need.size} needed entries after ${passes} ` +
          'passes; was it changed while it was read?'
      )
    await x.laterPass(need)
    wanted = await rules.wanted(view)
  }
  return await keepWanted(x, wanted)
}

/** Removes what the image does not need, links what it needs under every name it uses. */
async function keepWanted(
  x: Extraction,
  wanted: Map<string, number | undefined>
): Promise<Extracted> {
  const needed = new Set<string>()
  for (const name of wanted.keys()) {
    needed.add(name)
    needed.add(x.resolve(name).name)
  }
  for (const [name, rec] of [...x.files]) {
    if (needed.has(name)) continue
    x.foreign.add(name, rec.size)
    x.files.delete(name)
    await fs.rm(rec.file, { force: true })
  }
  for (const [name, size] of x.skipped) if (!needed.has(name)) x.foreign.add(name, size)
  // A link to a kept file (skopeo's `<id>/layer.tar` beside the `<digest>.tar` it lists) costs
  // nothing and is the format's own; only a link to nothing the image needs is reported.
  for (const name of x.links.keys())
    if (!needed.has(name) && !needed.has(x.resolve(name).name)) x.foreign.add(name, 0)
  for (const name of wanted.keys()) {
    if (x.files.has(name)) continue
    const rec = x.resolve(name).rec
    if (!rec) continue
    const file = path.join(x.dest, ...name.split('/'))
    try {
      await fs.mkdir(path.dirname(file), { recursive: true })
      await fs.link(rec.file, file)
    } catch (err) {
      throw new LadingError(
        `from "${x.from}": cannot extract the link ${name} from ${x.archive}: ${messageOf(err)}`
      )
    }
    x.files.set(name, { ...rec, file })
  }
  return {
    dir: x.dest,
    files: x.files,
    seen: name => x.hinted.has(name),
    warnings: x.foreign.warning(x.from, x.archive),
    written: x.written
  }
}
