/**
 * What a run knows of a blob once it has read it: the result of one scan (digest, diff_id, the
 * findings of its content), and the interfaces through which the stages that read blobs (a
 * builder writing a layer, a transport converting an archive) have them checked without depending
 * on the validator itself: the app hands them the validator's implementations.
 */
import type { Readable, Writable } from 'node:stream'
import type { Descriptor } from './types.js'
import type { Finding } from './finding.js'
import type { Compression } from './mediatypes.js'
import type { MemoryRelief } from '../util/memory.js'
import { layerCompression } from './mediatypes.js'

/** One reading of a blob: hashed, decompressed, its tar parsed for the path and whiteout rules. */
export interface BlobScan {
  /** bytes read from the blob */
  size: number
  /** digest of the raw bytes (undefined when the blob could not be read to its end) */
  digest?: string
  /** digest of the decompressed bytes, when the layer decompressed to its end */
  diffId?: string
  /** why reading the raw bytes failed */
  readError?: string
  /** content findings (compression, tar, paths, whiteouts) */
  findings: Finding[]
  /** what the tar reader said when the tar could not be read to its end */
  tarError?: string
  /** the blob could not even be opened: nothing of it was read */
  unopened?: boolean
}

export interface ScanOptions {
  /** hash algorithm of the descriptor digest (registered ones only) */
  algorithm: string
  /** hash algorithm of the diff_id (sha256 unless the config names sha512) */
  diffAlgorithm?: string
  /** what the media type declares; undefined: an opaque blob, only hashed */
  compression?: Compression
  /** parse the tar for path and whiteout rules */
  checkTar: boolean
  /** location prefix of content findings, e.g. `layer sha256:ab12…` */
  location: string
  /** the blob's full digest, named in messages */
  digest?: string
  /** The run's memory relief, told of the bytes read and decompressed: Buffers dead once read. */
  relief?: MemoryRelief
}

/** Reads a blob to its end and scans it. */
export type BlobScanner = (raw: Readable, opts: ScanOptions) => Promise<BlobScan>

/** A layer a builder wrote: what it hashed and counted on the way. */
export interface WrittenLayer {
  digest: string
  size: number
  diffId: string
}

/** A tar header as a builder writes it. */
export interface TarEntryHeader {
  name: string
  type?: string
  linkname?: string | null
  size?: number
}

/** Checks a tar as a builder writes it, header by header: what a scan of the layer would find. */
export interface EntryCheck {
  entry(h: TarEntryHeader): void
  result(layer: WrittenLayer): BlobScan
}

/** Checks a plain tar stream as a builder reads it from a tarball. */
export interface TarStreamCheck {
  readonly sink: Writable
  /** What the tar reader said when the tar could not be read to its end. */
  tarError(): Promise<string | undefined>
  result(layer: WrittenLayer): Promise<BlobScan>
}

/** The validator's checks, as a builder receives them. */
export interface LayerChecks {
  entries(): EntryCheck
  tarStream(): TarStreamCheck
}

/** Where a layer's content findings are: `layer sha256:0123456789ab…`. */
export function layerLocation(digest: string): string {
  return `layer ${digest.slice(0, 19)}…`
}

/** The key of a blob's scan: its digest, how it is read (compression, or opaque) and the diff_id algorithm. */
export function scanKey(desc: Descriptor, diffAlgorithm = 'sha256'): string {
  return `${desc.digest} ${layerCompression(desc.mediaType) ?? 'opaque'} ${diffAlgorithm}`
}

/** The digest of the blob a scanKey names. */
export function digestOfScanKey(key: string): string {
  return key.slice(0, key.indexOf(' '))
}

/**
 * What tells a file's content apart without reading it: a file replaced, rewritten or touched
 * changes at least one of these. Numbers as decimal strings (inode numbers and nanoseconds exceed
 * a double).
 */
export interface FileIdentity {
  dev: string
  ino: string
  size: string
  mtimeNs: string
  ctimeNs: string
}

export function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return (
    a.dev === b.dev &&
    a.ino === b.ino &&
    a.size === b.size &&
    a.mtimeNs === b.mtimeNs &&
    a.ctimeNs === b.ctimeNs
  )
}

/**
 * Scans kept beyond one run (by the earlier Lading steps of a job), each for one file of a layout
 * as it was when it was read: a blob file unchanged since is not read again to be checked again.
 */
export interface VerdictStore {
  /** The file's identity now; undefined when it cannot be looked at. */
  identify(file: string): Promise<FileIdentity | undefined>
  /** The scan recorded under `key` for the blob `digest` in the file of that identity. */
  lookup(key: string, digest: string, file: FileIdentity): Promise<BlobScan | undefined>
  /** Keeps the scan of a complete read; never fails the run. */
  record(key: string, digest: string, file: FileIdentity, scan: BlobScan): Promise<void>
}

/** Whether a scan read its blob whole and found the digest it was stored under: worth keeping. */
export function isCompleteScan(scan: BlobScan, digest: string): boolean {
  return !scan.unopened && scan.readError === undefined && scan.digest === digest
}

/**
 * Blob scans of one run, shared by every validation in it, keyed by scanKey: a blob the run has
 * read and checked once (in a source, or as it built it) is not read again to check it again.
 * With a VerdictStore, a layout's blob file that an earlier step checked is not read either.
 */
export class ScanCache {
  private readonly scans = new Map<string, Promise<BlobScan>>()
  /** blobs read to be checked */
  reads = 0
  /** checks taken from earlier in the run instead of reading a blob again */
  reused = 0
  /** checks taken from the verdicts of earlier steps instead of reading a blob file again */
  fromEarlierSteps = 0

  /** `relief`: the run's, told of what the scans read. */
  constructor(
    readonly verdicts?: VerdictStore,
    readonly relief?: MemoryRelief
  ) {}

  get(key: string): Promise<BlobScan> | undefined {
    return this.scans.get(key)
  }

  set(key: string, scan: Promise<BlobScan>): void {
    this.scans.set(key, scan)
  }

  /** Every scan, for handing those of one source to the run's cache. */
  entries(): IterableIterator<[string, Promise<BlobScan>]> {
    return this.scans.entries()
  }
}

/** Where a builder puts a finished blob: a temp file, hashed, then moved to its content address. */
export interface BlobSink {
  /** the directory written, for messages */
  readonly root: string
  tempPath(): string
  commit(tmp: string, digest: string): Promise<void>
}
