/**
 * An OCI image layout directory, read and written: `oci-layout`, `index.json`, and blobs at
 * `blobs/ALG/HEX`. The one place that knows where a blob's file is. Every blob written goes to a
 * temporary file while it is hashed, and is renamed into place only once its digest is known (and,
 * when one was expected, equal to it): a reader never sees a partial blob.
 */
import { createReadStream, createWriteStream } from 'node:fs'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { randomBytes } from 'node:crypto'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { HashingStream, parseDigest, digestOf } from '../oci/digest.js'
import { LadingError, messageOf } from '../util/errors.js'
import type { MemoryRelief } from '../util/memory.js'
import type { Descriptor } from '../oci/types.js'
import { MediaType } from '../oci/mediatypes.js'
import type { BlobReader } from '../oci/blobs.js'
import type { BlobSink } from '../oci/scan.js'

/**
 * Bytes per read of a blob file: large reads mean few chunks through hashing, decompression and
 * the network.
 */
export const BLOB_READ_CHUNK = 1024 * 1024

/** Where a layout keeps its blobs while they are being written. */
const TEMP_DIR = '.lading-tmp'

export interface Written {
  digest: string
  size: number
}

export interface LayoutOptions {
  /** How to call the layout in messages (default `oci:ROOT`). */
  name?: string
  /** Bytes per read of a blob file (default BLOB_READ_CHUNK). */
  readChunk?: number
  /** The run's memory relief, told of what is hashed while written. */
  relief?: MemoryRelief
}

export class Layout implements BlobReader, BlobSink {
  readonly name: string
  private readonly tmpDir: string
  private readonly readChunk: number
  private readonly relief?: MemoryRelief

  constructor(
    readonly root: string,
    opts: LayoutOptions = {}
  ) {
    this.name = opts.name ?? `oci:${root}`
    this.tmpDir = path.join(root, TEMP_DIR)
    this.readChunk = opts.readChunk ?? BLOB_READ_CHUNK
    this.relief = opts.relief
  }

  /** Where the layout keeps `digest` (`blobs/ALG/HEX`); the digest must be a registered one. */
  path(digest: string, where = `blob digest in ${this.name}`): string {
    return blobPathIn(this.root, digest, where)
  }

  fileOf(digest: string): string {
    return this.path(digest)
  }

  private missing(desc: Descriptor): LadingError {
    return new LadingError(`blob ${desc.digest} (${desc.mediaType}) is missing from ${this.name}`)
  }

  async has(desc: Descriptor | string): Promise<boolean> {
    const digest = typeof desc === 'string' ? desc : desc.digest
    try {
      return (await fs.stat(this.path(digest))).isFile()
    } catch {
      return false
    }
  }

  /** The blob's bytes, unverified (the caller hashes what it reads); opened before it resolves. */
  async open(desc: Descriptor): Promise<Readable> {
    const s = createReadStream(this.path(desc.digest), { highWaterMark: this.readChunk })
    // Open errors (a missing file, EACCES, EISDIR) surface here rather than mid-iteration.
    await new Promise<void>((resolve, reject) => {
      s.once('ready', () => resolve())
      s.once('error', err =>
        reject((err as NodeJS.ErrnoException).code === 'ENOENT' ? this.missing(desc) : err)
      )
    })
    return s
  }

  /** A whole small blob, verified against its descriptor's digest and size. */
  async read(desc: Descriptor): Promise<Buffer> {
    let data: Buffer
    try {
      data = await fs.readFile(this.path(desc.digest))
    } catch {
      throw this.missing(desc)
    }
    const actual = digestOf(data, parseDigest(desc.digest).algorithm)
    if (actual !== desc.digest || data.length !== desc.size)
      throw new LadingError(
        `blob ${desc.digest} in ${this.name} is corrupt: it has ${data.length} bytes and digest ` +
          `${actual}; the descriptor says ${desc.size} bytes`
      )
    return data
  }

  /** Makes the directories a layout being written needs. */
  async init(): Promise<void> {
    await fs.mkdir(path.join(this.root, 'blobs', 'sha256'), { recursive: true })
    await fs.mkdir(this.tmpDir, { recursive: true })
  }

  /** Removes the temporary area; called when the layout is complete. */
  async finish(): Promise<void> {
    await fs.rm(this.tmpDir, { recursive: true, force: true })
  }

  /** A fresh path in the temporary area, for writers that hash on their own. */
  tempPath(): string {
    return path.join(this.tmpDir, randomBytes(8).toString('hex'))
  }

  /** Moves a fully written and hashed temporary file to its content address. */
  async commit(tmp: string, digest: string): Promise<void> {
    const dest = this.path(digest)
    await fs.mkdir(path.dirname(dest), { recursive: true })
    await fs.rename(tmp, dest)
  }

  /** Puts an already verified file at its content address: a hard link when it can, else a copy. */
  async linkOrCopy(file: string, digest: string): Promise<void> {
    const dest = this.path(digest)
    await fs.mkdir(path.dirname(dest), { recursive: true })
    try {
      await fs.link(file, dest)
    } catch {
      const tmp = this.tempPath()
      await fs.copyFile(file, tmp)
      await fs.rename(tmp, dest)
    }
  }

  /** Streams `src` into the layout; verifies against `expected` when given. */
  async writeStream(
    src: Readable,
    expected?: Pick<Descriptor, 'digest' | 'size'>,
    what = 'blob'
  ): Promise<Written> {
    const algorithm = expected ? parseDigest(expected.digest).algorithm : 'sha256'
    const tmp = this.tempPath()
    const hasher = new HashingStream(algorithm, this.relief)
    try {
      await pipeline(src, hasher, createWriteStream(tmp))
    } catch (err) {
      await fs.rm(tmp, { force: true })
      throw new LadingError(`writing ${what} into ${this.root}: ${messageOf(err)}`)
    }
    const digest = hasher.digest()
    if (expected && (digest !== expected.digest || hasher.size !== expected.size)) {
      await fs.rm(tmp, { force: true })
      throw new LadingError(
        `${what} ${expected.digest}: content read has digest ${digest} and ${hasher.size} bytes, ` +
          `expected ${expected.size} bytes; the source is corrupt or was changed while being read`
      )
    }
    await this.commit(tmp, digest)
    return { digest, size: hasher.size }
  }

  async writeBuffer(data: Buffer): Promise<Written> {
    const digest = digestOf(data)
    const tmp = this.tempPath()
    try {
      await fs.writeFile(tmp, data)
    } catch (err) {
      await fs.rm(tmp, { force: true })
      throw err
    }
    await this.commit(tmp, digest)
    return { digest, size: data.length }
  }

  /** Writes a JSON document (manifest, index, config) and returns its descriptor and bytes. */
  async writeJSON(value: unknown, mediaType: string): Promise<Descriptor & { bytes: Buffer }> {
    const bytes = Buffer.from(JSON.stringify(value))
    const { digest, size } = await this.writeBuffer(bytes)
    return { mediaType, digest, size, bytes }
  }

  /** Writes `oci-layout` and `index.json`, the two files that make the directory a layout. */
  async writeIndex(manifests: Descriptor[]): Promise<void> {
    await writeLayoutIndex(this.root, manifests)
  }
}

/** Where a layout at `root` keeps the blob `digest` (`blobs/ALG/HEX`); the digest must be a registered one. */
export function blobPathIn(root: string, digest: string, where = 'digest'): string {
  const { algorithm, encoded } = parseDigest(digest, where)
  return path.join(root, 'blobs', algorithm, encoded)
}

/** Writes `oci-layout` and `index.json`, the two files that make a directory an OCI image layout. */
export async function writeLayoutIndex(root: string, manifests: Descriptor[]): Promise<void> {
  await fs.writeFile(path.join(root, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }))
  const index = { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests }
  await fs.writeFile(path.join(root, 'index.json'), JSON.stringify(index))
}
