/**
 * How the validator reads the blobs of a graph: whether each is there, its bytes verified against
 * its descriptor, JSON documents read whole but never past MAX_DOCUMENT_BYTES, other blobs scanned
 * once per run (the ScanCache). Every problem becomes a finding; nothing here throws for bad input.
 */
import { createHash } from 'node:crypto'
import type { Readable } from 'node:stream'
import type { BlobReader } from '../oci/blobs.js'
import type { Descriptor } from '../oci/types.js'
import { layerCompression } from '../oci/mediatypes.js'
import {
  ScanCache,
  scanKey,
  layerLocation,
  isCompleteScan,
  sameFile,
  type BlobScan
} from '../oci/scan.js'
import { messageOf } from '../util/errors.js'
import { finding, type Finding } from './rules.js'
import { isRegisteredAlgorithm } from '../oci/digest.js'
import { scanBlob } from './layer/scan.js'
import { MAX_DOCUMENT_BYTES } from '../oci/limits.js'

export interface JsonBlob {
  /** bytes read: MAX_DOCUMENT_BYTES + 1 when the document is larger and reading stopped there */
  size: number
  digest?: string
  bytes?: Buffer
  readError?: string
  /** larger than MAX_DOCUMENT_BYTES: not read to its end, so neither parsed nor verified */
  tooLarge?: boolean
}

export interface BlobReadOptions {
  /** blobs missing from the layout are errors (Lading must push them) rather than warnings */
  requireAllBlobs?: boolean
  /** digests deliberately absent (registry-base layers never downloaded) */
  notDownloaded?: Set<string>
  /** scans shared by the validations of one run */
  scans?: ScanCache
}

export class BlobReads {
  private readonly json = new Map<string, Promise<JsonBlob>>()
  readonly scans: ScanCache
  /** Scan keys this walk has read or reused, for the cache's counts. */
  private readonly counted = new Set<string>()
  /** Digests of blobs read to their end, so a layout check does not read them again. */
  readonly hashed = new Set<string>()

  constructor(
    private readonly reader: BlobReader,
    private readonly opts: BlobReadOptions,
    private readonly add: (...f: Finding[]) => void
  ) {
    this.scans = opts.scans ?? new ScanCache()
  }

  /** Whether the blob can be read; reports why not otherwise. */
  async present(desc: Descriptor, loc: string): Promise<boolean> {
    if (!isRegisteredAlgorithm(desc.digest)) {
      this.add(
        finding(
          'descriptor-digest-unregistered',
          loc,
          `the blob ${desc.digest} uses an algorithm Lading cannot verify (sha256 and sha512 are registered); it was not checked`
        )
      )
      return false
    }
    let has: boolean
    try {
      has = await this.reader.has(desc)
    } catch (err) {
      this.add(
        finding(
          'blob-unreadable',
          loc,
          `could not look for blob ${desc.digest} in ${this.reader.name}: ${messageOf(err)}`
        )
      )
      return false
    }
    if (!has) this.add(this.absent(desc, loc))
    return has
  }

  private absent(desc: Descriptor, loc: string): Finding {
    const where = this.reader.name
    const foreign =
      (Array.isArray(desc.urls) && desc.urls.length > 0) ||
      desc.mediaType.includes('.nondistributable.') ||
      desc.mediaType.includes('.foreign.')
    const blob = `blob ${desc.digest} (${desc.mediaType})`
    if (this.opts.notDownloaded?.has(desc.digest))
      return finding(
        'blob-not-downloaded',
        loc,
        `${blob} was not downloaded (it stays in its registry), so its content was not checked`
      )
    if (foreign)
      return finding(
        'blob-missing',
        loc,
        `${blob} is not in ${where}; it is non-distributable or has \`urls\`, so it is fetched from elsewhere`
      )
    if (this.opts.requireAllBlobs)
      return finding(
        'blob-missing-required',
        loc,
        `${blob} is missing from ${where}, and it must be pushed; rebuild or re-copy the image`
      )
    return finding(
      'blob-missing',
      loc,
      `${blob} is missing from ${where}; only an external blob store can provide it`
    )
  }

  /** Compares what was read with the descriptor. */
  verify(
    desc: Descriptor,
    got: { size: number; digest?: string; readError?: string },
    loc: string
  ): void {
    if (got.readError !== undefined) {
      this.add(
        finding(
          'blob-unreadable',
          loc,
          `reading blob ${desc.digest} failed after ${got.size} bytes: ${got.readError}`
        )
      )
      return
    }
    if (got.size !== desc.size)
      this.add(
        finding(
          'blob-size-mismatch',
          loc,
          `blob ${desc.digest} has ${got.size} bytes but the descriptor says ${desc.size}`
        )
      )
    if (got.digest !== desc.digest)
      this.add(
        finding(
          'blob-digest-mismatch',
          loc,
          `blob ${desc.digest} has content with digest ${got.digest}`
        )
      )
  }

  /** A JSON document's bytes, read once per walk whoever asks, never past MAX_DOCUMENT_BYTES. */
  readJson(desc: Descriptor): Promise<JsonBlob> {
    let p = this.json.get(desc.digest)
    if (!p) {
      p = this.readJsonOnce(desc)
      this.json.set(desc.digest, p)
    }
    return p
  }

  private async readJsonOnce(desc: Descriptor): Promise<JsonBlob> {
    // Whatever happens below, the blob was dealt with: the layout's blob sweep must not read it.
    this.hashed.add(desc.digest)
    // A descriptor that declares more is refused unread; one that lies is cut one byte past.
    if (desc.size > MAX_DOCUMENT_BYTES) return { size: 0, tooLarge: true }
    const algorithm = desc.digest.split(':', 1)[0]
    const chunks: Buffer[] = []
    let size = 0
    const h = createHash(algorithm)
    let s: Readable | undefined
    try {
      s = await this.reader.open(desc)
      for await (const c of s as AsyncIterable<Buffer>) {
        const room = MAX_DOCUMENT_BYTES + 1 - size
        const part = c.length > room ? c.subarray(0, room) : c
        size += part.length
        if (size > MAX_DOCUMENT_BYTES) return { size, tooLarge: true }
        h.update(part)
        chunks.push(part)
      }
    } catch (err) {
      return { size, readError: messageOf(err) }
    } finally {
      // Leaving the loop early ends the stream; a stream never iterated is closed here.
      s?.destroy()
    }
    return { size, digest: `${algorithm}:` + h.digest('hex'), bytes: Buffer.concat(chunks) }
  }

  /** Reads a blob to its end once per run: as a layer (decompressed, tar checked) or opaque. */
  async scan(desc: Descriptor, layer: boolean, diffAlgorithm = 'sha256'): Promise<BlobScan> {
    const key = layer ? scanKey(desc, diffAlgorithm) : `${desc.digest} opaque ${diffAlgorithm}`
    let p = this.scans.get(key)
    if (p) {
      // Counted once per walk: a layer listed twice, or read ahead, is not a second reuse.
      if (!this.counted.has(key)) this.scans.reused++
      this.counted.add(key)
    } else {
      this.counted.add(key)
      p = this.scanOnce(desc, key, layer, diffAlgorithm)
      this.scans.set(key, p)
    }
    const r = await p
    // Read (if not to its end): the layout's sweep of unreferenced blobs need not read it again.
    if (!r.unopened) this.hashed.add(desc.digest)
    return r
  }

  /**
   * A blob file unchanged since an earlier step checked it takes that step's verdict; a file read
   * here leaves its verdict for later steps, if it did not change while it was read.
   */
  private async scanOnce(
    desc: Descriptor,
    key: string,
    layer: boolean,
    diffAlgorithm: string
  ): Promise<BlobScan> {
    const verdicts = this.scans.verdicts
    const file = verdicts ? this.fileOf(desc) : undefined
    const before = file ? await verdicts?.identify(file) : undefined
    if (!verdicts || !file || !before) return this.read(desc, layer, diffAlgorithm)
    const kept = await verdicts.lookup(key, desc.digest, before)
    if (kept) {
      this.scans.fromEarlierSteps++
      return kept
    }
    const scan = await this.read(desc, layer, diffAlgorithm)
    const after = await verdicts.identify(file)
    if (after && sameFile(before, after) && isCompleteScan(scan, desc.digest))
      await verdicts.record(key, desc.digest, before, scan)
    return scan
  }

  private fileOf(desc: Descriptor): string | undefined {
    try {
      return this.reader.fileOf?.(desc.digest)
    } catch {
      return undefined
    }
  }

  private async read(desc: Descriptor, layer: boolean, diffAlgorithm: string): Promise<BlobScan> {
    this.scans.reads++
    let s: Readable
    try {
      s = await this.reader.open(desc)
    } catch (err) {
      return { size: 0, readError: messageOf(err), findings: [], unopened: true }
    }
    return scanBlob(s, {
      algorithm: desc.digest.split(':', 1)[0],
      diffAlgorithm,
      compression: layer ? layerCompression(desc.mediaType) : undefined,
      checkTar: layer,
      location: layerLocation(desc.digest),
      digest: desc.digest,
      relief: this.scans.relief
    })
  }
}
