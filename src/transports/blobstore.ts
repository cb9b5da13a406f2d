import { createReadStream, createWriteStream } from 'node:fs'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { randomBytes } from 'node:crypto'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { HashingStream, parseDigest, digestOf } from '../oci/digest.js'
import { LadingError, messageOf } from '../util/errors.js'
import type { Descriptor } from '../oci/types.js'
import { MediaType } from '../oci/mediatypes.js'
import type { MemoryRelief } from '../util/memory.js'
import type { BlobReader } from '../oci/blobs.js'

/**
 * Bytes per read of a blob file: large reads mean few chunks through hashing, decompression and
 * the network (64 KiB, Node's default, makes a 100 MB upload 1,600 writes).
 */
export const BLOB_READ_CHUNK = 1024 * 1024

export interface Written {
  digest: string
  size: number
}

/**
 * The content-addressed blob store of an OCI image layout being written. Every blob goes to a
 * temporary file while it is hashed, and is renamed into `blobs/ALG/HEX` only once its digest is
 * known (and, when one was expected, equal to it): a reader never sees a partial blob.
 */
export class BlobStore implements BlobReader {
  readonly name: string
  private readonly tmpDir: string

  constructor(
    readonly root: string,
    private readonly relief?: MemoryRelief
  ) {
    this.name = `oci:${root}`
    this.tmpDir = path.join(root, '.lading-tmp')
  }

  async init(): Promise<void> {
    await fs.mkdir(path.join(this.root, 'blobs', 'sha256'), { recursive: true })
    await fs.mkdir(this.tmpDir, { recursive: true })
  }

  /** Removes the temporary area; called when the layout is complete. */
  async finish(): Promise<void> {
    await fs.rm(this.tmpDir, { recursive: true, force: true })
  }

  path(digest: string): string {
    return blobPathIn(this.root, digest)
  }

  /** A fresh path in the store's temporary area, for writers that hash on their own. */
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

  async has(desc: Descriptor | string): Promise<boolean> {
    const digest = typeof desc === 'string' ? desc : desc.digest
    try {
      await fs.access(this.path(digest))
      return true
    } catch {
      return false
    }
  }

  /** Streams `src` into the store; verifies against `expected` when given. */
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

  /** Writes a JSON document (manifest, index, config) and returns its descriptor. */
  async writeJSON(value: unknown, mediaType: string): Promise<Descriptor & { bytes: Buffer }> {
    const bytes = Buffer.from(JSON.stringify(value))
    const { digest, size } = await this.writeBuffer(bytes)
    return { mediaType, digest, size, bytes }
  }

  async open(desc: Descriptor): Promise<Readable> {
    const p = this.path(desc.digest)
    try {
      await fs.access(p)
    } catch {
      throw new LadingError(`blob ${desc.digest} (${desc.mediaType}) is missing from ${this.name}`)
    }
    return createReadStream(p, { highWaterMark: BLOB_READ_CHUNK })
  }

  async read(desc: Descriptor): Promise<Buffer> {
    let data: Buffer
    try {
      data = await fs.readFile(this.path(desc.digest))
    } catch {
      throw new LadingError(`blob ${desc.digest} (${desc.mediaType}) is missing from ${this.name}`)
    }
    const actual = digestOf(data, parseDigest(desc.digest).algorithm)
    if (actual !== desc.digest || data.length !== desc.size)
      throw new LadingError(
        `blob ${desc.digest} in ${this.name} is corrupt: it has ${data.length} bytes and digest ${actual}`
      )
    return data
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
