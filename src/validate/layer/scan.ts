/**
 * Reads a blob once: the raw bytes are hashed (the descriptor digest) while they are decompressed,
 * and the decompressed bytes are hashed (the diff_id) while tar-stream parses them for the path
 * and whiteout rules. Nothing is buffered beyond the streams' own chunks.
 */
import { createHash, type Hash } from 'node:crypto'
import type { Readable } from 'node:stream'
import type { Compression } from '../../oci/mediatypes.js'
import type { BlobScan as ScanResult, ScanOptions } from '../../oci/scan.js'
import { MultiFrameDecompressor, readableCompression } from '../../codec/decompress.js'
import { messageOf } from '../../util/errors.js'
import { finding } from '../rules.js'
import { cappedFindings } from './findings.js'
import { LayerTarCheck } from './tar.js'

export type { BlobScan as ScanResult, ScanOptions } from '../../oci/scan.js'

/** The magic numbers that tell gzip and zstd apart need this many bytes. */
const MAGIC_BYTES = 4

export async function scanBlob(raw: Readable, opts: ScanOptions): Promise<ScanResult> {
  const rawHash = createHash(opts.algorithm)
  let size = 0
  const layer =
    opts.compression !== undefined ? new LayerContentScan(opts, opts.compression) : undefined
  try {
    for await (const c of raw as AsyncIterable<Buffer>) {
      rawHash.update(c)
      size += c.length
      if (layer) await layer.write(c)
    }
  } catch (err) {
    layer?.destroy()
    return { size, readError: messageOf(err), findings: layer?.out.findings ?? [] }
  }
  const digest = `${opts.algorithm}:` + rawHash.digest('hex')
  if (!layer) return { size, digest, findings: [] }
  return layer.end(size, digest)
}

/**
 * What scanBlob does with a layer's bytes beyond hashing them: tells the compression from the
 * first bytes, decompresses, hashes the diff_id and hands the tar to LayerTarCheck.
 */
class LayerContentScan {
  readonly out = cappedFindings()
  private readonly diffAlgorithm: string
  private readonly diffHash: Hash
  /** the first bytes, until there are enough to tell the compression */
  private head: Buffer | undefined
  private started = false
  private actual: Compression = 'none'
  private decompressor: MultiFrameDecompressor | undefined
  private tar: LayerTarCheck | undefined

  constructor(
    private readonly opts: ScanOptions,
    private readonly declared: Compression
  ) {
    this.diffAlgorithm = opts.diffAlgorithm ?? 'sha256'
    this.diffHash = createHash(this.diffAlgorithm)
  }

  async write(c: Buffer): Promise<void> {
    this.opts.relief?.moved(c.length)
    let chunk = c
    if (!this.started) {
      // A stream may deliver fewer bytes than the magic numbers first.
      this.head = this.head ? Buffer.concat([this.head, c]) : c
      if (this.head.length < MAGIC_BYTES) return
      chunk = this.head
      this.head = undefined
      this.start(chunk)
    }
    if (this.decompressor) await this.decompressor.write(chunk)
    else if (!this.toTar(chunk) && this.tar) await this.tar.drained()
  }

  /** Sets up the reading of the content once its compression can be told. */
  private start(head: Buffer): void {
    this.started = true
    this.actual = readableCompression(head)
    if (this.actual !== this.declared)
      this.out.add(
        finding(
          'layer-compression-mismatch',
          this.opts.location,
          `the media type says ${this.declared === 'none' ? 'uncompressed tar' : this.declared} but the content is ${this.actual === 'none' ? 'not gzip or zstd' : this.actual}`
        )
      )
    if (this.opts.checkTar) this.tar = new LayerTarCheck(this.opts.location, this.out.add)
    if (this.actual === 'none') return
    this.decompressor = new MultiFrameDecompressor(
      this.actual,
      d => {
        // Each decompressed chunk is a new Buffer, dead once the tar reader has it: in a layer
        // three times its compressed size, most of the garbage a validation leaves.
        this.opts.relief?.moved(d.length)
        return this.toTar(d)
      },
      () => (this.tar ? this.tar.drained() : Promise.resolve())
    )
  }

  /** Takes decompressed bytes; false when the tar reader asks for a pause. */
  private toTar(d: Buffer): boolean {
    this.diffHash.update(d)
    return this.tar ? this.tar.write(d) : true
  }

  /** A blob shorter than the magic numbers is read only once it has ended. */
  private async startShort(): Promise<void> {
    const head = this.head
    this.start(head ?? Buffer.alloc(0))
    if (!head) return
    if (this.decompressor) await this.decompressor.write(head)
    else this.toTar(head)
  }

  destroy(): void {
    this.decompressor?.destroy()
    this.tar?.destroy()
  }

  /** Finishes the scan once all `size` bytes of the blob, whose digest is `digest`, were written. */
  async end(size: number, digest: string): Promise<ScanResult> {
    if (!this.started) await this.startShort()
    const decompressError = this.decompressor ? await this.decompressor.end() : undefined
    this.decompressionFindings(decompressError, size)
    if (decompressError !== undefined) this.tar?.destroy()
    else if (this.tar) await this.tar.finish()
    this.out.close(this.opts.location)
    return {
      size,
      digest,
      diffId:
        decompressError === undefined
          ? `${this.diffAlgorithm}:` + this.diffHash.digest('hex')
          : undefined,
      findings: this.out.findings,
      ...(this.tar?.tarError !== undefined ? { tarError: this.tar.tarError } : {})
    }
  }

  private decompressionFindings(decompressError: string | undefined, size: number): void {
    const d = this.decompressor
    if (d && decompressError === undefined && d.consumed < size)
      this.out.add(
        finding(
          'layer-compression-trailing',
          this.opts.location,
          `layer ${this.opts.digest ?? '(this blob)'} has ${size - d.consumed} trailing bytes (of ${size}) after its ${d.kind} ${d.kind === 'gzip' ? 'members' : 'frames'} that are not another ${d.kind === 'gzip' ? 'gzip member' : 'zstd frame'}; Node ignores them but Go readers (containerd, skopeo, umoci, buildah) reject the layer ("gzip: invalid header" for gzip); recompress it or cut it at byte ${d.consumed}`
        )
      )
    if (decompressError !== undefined)
      this.out.add(
        finding(
          'layer-decompress',
          this.opts.location,
          `the ${this.actual} stream is corrupt: ${decompressError}` +
            (/Unknown frame descriptor/.test(decompressError)
              ? ' (bytes that do not start a zstd frame, possibly trailing bytes after the last frame; Go readers reject them too)'
              : '')
        )
      )
  }
}
