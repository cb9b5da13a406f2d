/**
 * Reads a blob once: the raw bytes are hashed (the descriptor digest) while they are decompressed,
 * and the decompressed bytes are hashed (the diff_id) while tar-stream parses them for the path
 * and whiteout rules. Nothing is buffered beyond the streams' own chunks.
 */
import { createHash } from 'node:crypto'
import { PassThrough, type Readable, type Transform } from 'node:stream'
import tar from 'tar-stream'
import type { Compression } from '../oci/mediatypes.js'
import { createDecompressor, isZstdFrame, readableCompression } from '../codec/compress.js'
import { finding, type Finding } from './rules.js'
import { messageOf } from '../util/errors.js'
import type {
  BlobScan as ScanResult,
  ScanOptions,
  EntryCheck,
  TarStreamCheck,
  TarEntryHeader,
  WrittenLayer,
  LayerChecks
} from '../oci/scan.js'

export type { BlobScan as ScanResult, ScanOptions } from '../oci/scan.js'

/** Content findings per layer beyond this are summarised, so a hostile layer cannot flood memory. */
const MAX_FINDINGS = 50

export { layerLocation } from '../oci/scan.js'
import { layerLocation } from '../oci/scan.js'

/** A finding list capped at MAX_FINDINGS, the rest counted and summarised by `close`. */
function cappedFindings(): {
  findings: Finding[]
  add: (f: Finding) => void
  close: (location: string) => void
} {
  const findings: Finding[] = []
  let dropped = 0
  return {
    findings,
    add: f => {
      if (findings.length < MAX_FINDINGS) findings.push(f)
      else dropped++
    },
    close: location => {
      if (dropped)
        findings.push(
          finding('layer-tar', location, `${dropped} more findings in this layer were not listed`)
        )
    }
  }
}

/** Stands for the layer's location until its digest is known. */
const PENDING = '\0layer'

/** What a layer's own scan gives for it, the findings made under PENDING moved to its location. */
function scanOf(layer: BuiltBlob, findings: Finding[], tarError?: string): ScanResult {
  const location = layerLocation(layer.digest)
  return {
    size: layer.size,
    digest: layer.digest,
    diffId: layer.diffId,
    findings: findings.map(f =>
      f.location.startsWith(PENDING)
        ? { ...f, location: location + f.location.slice(PENDING.length) }
        : f
    ),
    ...(tarError !== undefined ? { tarError } : {})
  }
}

type BuiltBlob = WrittenLayer

/**
 * The content checks of scanBlob for a tar Lading writes itself, fed each header as it is
 * written: the tar is well formed by construction, so its paths and whiteouts are all there is
 * to check, and the layer need not be read back to validate it.
 */
export class HeaderCheck implements EntryCheck {
  private readonly out = cappedFindings()
  private readonly paths = new TarPathChecker(PENDING, this.out.add)

  entry(h: TarEntryHeader): void {
    this.paths.entry(h as tar.Header)
  }

  /** What scanBlob would have found reading the finished layer. */
  result(layer: BuiltBlob): ScanResult {
    this.paths.finish()
    this.out.close(PENDING)
    return scanOf(layer, this.out.findings)
  }
}

function waitDrain(s: NodeJS.EventEmitter): Promise<void> {
  return new Promise(resolve => {
    const done = (): void => {
      s.off('drain', done)
      s.off('error', done)
      s.off('close', done)
      resolve()
    }
    s.on('drain', done)
    s.on('error', done)
    s.on('close', done)
  })
}

/**
 * Decompresses a gzip or zstd stream and counts the input bytes the decompressors consumed, so
 * bytes after the last member/frame can be reported. Node's gunzip reads concatenated members
 * itself and silently ignores what follows them; Node's zstd decoder stops after one frame, so a
 * new decoder is started for each further frame (zstd:chunked layers have many) — and what is
 * neither a frame nor a skippable frame is trailing data.
 */
/** Node's zlib streams count the input bytes they consumed; @types/node omits it on Transform. */
type Decompressor = Transform & { bytesWritten: number }

class Decoder {
  /** blob offset where the current decoder's input starts */
  private start = 0
  /** bytes handed to write() so far */
  private written = 0
  /** chunks written to the current decoder and not yet known to be consumed */
  private pending: Array<{ off: number; buf: Buffer }> = []
  private d: Decompressor | undefined
  /** set when the current zstd decoder stopped at a frame end while input was left */
  private stoppedAt: number | undefined
  /** bytes after a frame end, until there are enough to tell what follows */
  private between: Buffer | undefined
  private error: string | undefined
  private ended: Promise<void> = Promise.resolve()
  /** input bytes consumed by the decompressors, when decoding stopped at trailing data */
  private trailingAt: number | undefined

  constructor(
    readonly kind: 'gzip' | 'zstd',
    private readonly sink: (out: Buffer) => boolean,
    private readonly sinkDrain: () => Promise<void>
  ) {
    this.open(0)
  }

  private open(start: number): void {
    this.start = start
    this.stoppedAt = undefined
    const d = createDecompressor(this.kind) as Decompressor
    this.d = d
    d.on('data', (out: Buffer) => {
      if (!this.sink(out)) {
        d.pause()
        void this.sinkDrain().then(() => d.resume())
      }
    })
    this.ended = new Promise(resolve => {
      d.on('end', () => {
        // Input left unconsumed means the zstd decoder stopped at the end of a frame.
        if (this.start + d.bytesWritten < this.written) this.stoppedAt = this.start + d.bytesWritten
        resolve()
      })
      d.on('error', (err: Error) => {
        // A decoder that already stopped at a frame end fails on the input written after it.
        if (this.stoppedAt === undefined) this.error ??= err.message
        resolve()
      })
    })
  }

  /** input bytes the decompressors consumed */
  get consumed(): number {
    if (this.trailingAt !== undefined) return this.trailingAt
    return this.d ? this.start + this.d.bytesWritten : this.start
  }

  async write(chunk: Buffer): Promise<void> {
    const off = this.written
    this.written += chunk.length
    if (this.error !== undefined || this.trailingAt !== undefined) return
    if (this.between) {
      this.between = Buffer.concat([this.between, chunk])
      this.next(false)
      return
    }
    const d = this.d as Decompressor
    this.pending.push({ off, buf: chunk })
    const done = this.start + d.bytesWritten
    while (this.pending.length && this.pending[0].off + this.pending[0].buf.length <= done)
      this.pending.shift()
    if (!d.write(chunk)) await waitDrain(d)
    if (this.stoppedAt !== undefined) this.frameEnded()
  }

  /** The zstd decoder stopped: collect what it left and decide what follows. */
  private frameEnded(): void {
    const at = this.stoppedAt as number
    this.d?.destroy()
    const rest = this.pending
      .filter(p => p.off + p.buf.length > at)
      .map(p => p.buf.subarray(Math.max(0, at - p.off)))
    this.pending = []
    this.between = Buffer.concat(rest)
    this.start = at
    this.d = undefined
    this.next(false)
  }

  private next(final: boolean): void {
    const b = this.between as Buffer
    if (b.length < 4 && !final) return
    if (this.kind === 'zstd' && isZstdFrame(b)) {
      this.between = undefined
      this.open(this.start)
      const d = this.d as Decompressor
      this.pending.push({ off: this.start, buf: b })
      d.write(b)
    } else {
      this.trailingAt = this.start
      this.between = undefined
    }
  }

  /** Ends the input; resolves to why decompression failed, if it did. */
  async end(): Promise<string | undefined> {
    for (let guard = 0; guard < 1_000_000; guard++) {
      if (this.error !== undefined || this.trailingAt !== undefined) return this.error
      if (this.between) {
        this.next(true)
        continue
      }
      const d = this.d as Decompressor
      if (!d.writableEnded) d.end()
      await this.ended
      if (this.stoppedAt !== undefined) {
        this.frameEnded()
        continue
      }
      return this.error
    }
    return this.error
  }

  destroy(): void {
    this.d?.destroy()
  }
}

export async function scanBlob(raw: Readable, opts: ScanOptions): Promise<ScanResult> {
  const { findings, add, close } = cappedFindings()
  const rawHash = createHash(opts.algorithm)
  let size = 0
  const layer = opts.compression !== undefined
  const diffAlgorithm = opts.diffAlgorithm ?? 'sha256'
  const diffHash = createHash(diffAlgorithm)
  let decoder: Decoder | undefined
  let tarError: string | undefined
  /** entries whose data has not been read to its end; none when a tar lacks only its trailer */
  let openEntries = 0
  let extract: tar.Extract | undefined
  let extractDone: Promise<void> | undefined
  const paths = opts.checkTar ? new TarPathChecker(opts.location, add) : undefined
  let first = true
  let head: Buffer | undefined
  let actual: Compression = 'none'

  const end = opts.checkTar ? new TarEnd() : undefined
  const toTar = (d: Buffer): boolean => {
    diffHash.update(d)
    if (!extract || tarError !== undefined) return true
    // Entries after the end-of-archive marker are never extracted, so they are not checked either.
    const keep = end ? end.feed(d) : d
    return keep.length === 0 ? true : extract.write(keep)
  }

  const startPipeline = (chunk: Buffer): void => {
    actual = readableCompression(chunk)
    if (actual !== opts.compression)
      add(
        finding(
          'layer-compression-mismatch',
          opts.location,
          `the media type says ${opts.compression === 'none' ? 'uncompressed tar' : opts.compression} but the content is ${actual === 'none' ? 'not gzip or zstd' : actual}`
        )
      )
    if (opts.checkTar) {
      extract = tar.extract()
      extract.on('entry', (header, stream, next) => {
        paths?.entry(header)
        openEntries++
        stream.on('end', () => {
          openEntries--
          next()
        })
        stream.on('error', (err: Error) => {
          tarError ??= err.message
        })
        stream.resume()
      })
      extractDone = new Promise(resolve => {
        extract?.on('error', (err: Error) => {
          tarError ??= err.message
          resolve()
        })
        extract?.on('finish', () => resolve())
        extract?.on('close', () => resolve())
      })
    }
    if (actual === 'none') return
    decoder = new Decoder(actual, toTar, () =>
      extract ? waitDrain(extract as unknown as NodeJS.EventEmitter) : Promise.resolve()
    )
  }

  try {
    for await (const c of raw as AsyncIterable<Buffer>) {
      rawHash.update(c)
      size += c.length
      if (!layer) continue
      let chunk = c
      if (first) {
        // The magic numbers need 4 bytes; a stream may deliver fewer first.
        head = head ? Buffer.concat([head, c]) : c
        if (head.length < 4) continue
        chunk = head
        head = undefined
        first = false
        startPipeline(chunk)
      }
      if (decoder) await decoder.write(chunk)
      else if (!toTar(chunk) && extract) await waitDrain(extract as unknown as NodeJS.EventEmitter)
    }
  } catch (err) {
    decoder?.destroy()
    extract?.destroy()
    return { size, readError: messageOf(err), findings }
  }
  const digest = `${opts.algorithm}:` + rawHash.digest('hex')
  if (!layer) return { size, digest, findings }
  if (first) {
    startPipeline(head ?? Buffer.alloc(0))
    if (head) {
      if (decoder) await decoder.write(head)
      else toTar(head)
    }
  }

  const decompError = decoder ? await decoder.end() : undefined
  if (decoder && decompError === undefined && decoder.consumed < size)
    add(
      finding(
        'layer-compression-trailing',
        opts.location,
        `layer ${opts.digest ?? '(this blob)'} has ${size - decoder.consumed} trailing bytes (of ${size}) after its ${decoder.kind} ${decoder.kind === 'gzip' ? 'members' : 'frames'} that are not another ${decoder.kind === 'gzip' ? 'gzip member' : 'zstd frame'}; Node ignores them but Go readers (containerd, skopeo, umoci, buildah) reject the layer ("gzip: invalid header" for gzip); recompress it or cut it at byte ${decoder.consumed}`
      )
    )
  if (decompError !== undefined) {
    add(
      finding(
        'layer-decompress',
        opts.location,
        `the ${actual} stream is corrupt: ${decompError}` +
          (/Unknown frame descriptor/.test(decompError)
            ? ' (bytes that do not start a zstd frame, possibly trailing bytes after the last frame; Go readers reject them too)'
            : '')
      )
    )
    extract?.destroy()
  } else if (extract) {
    if (tarError === undefined) extract.end(undefined)
    await extractDone
    if (tarError === 'Unexpected end of data' && openEntries === 0) {
      add(
        finding(
          'layer-tar-unterminated',
          opts.location,
          'the tar ends without its last block padding or end-of-archive blocks; every entry is complete, but strict readers (GNU tar) reject it'
        )
      )
      paths?.finish()
    } else if (tarError !== undefined)
      add(
        finding('layer-tar', opts.location, `the layer is not a readable tar archive: ${tarError}`)
      )
    else paths?.finish()
    if (end?.trailingAt !== undefined)
      add(
        finding(
          'layer-tar-trailing',
          opts.location,
          `the tar has non-zero bytes at byte ${end.trailingAt}, after its end-of-archive marker (two zero blocks ending at byte ${end.endAt}); tar readers stop at the marker and ignore them`
        )
      )
  }
  close(opts.location)
  return {
    size,
    digest,
    diffId: decompError === undefined ? `${diffAlgorithm}:` + diffHash.digest('hex') : undefined,
    findings,
    ...(tarError !== undefined ? { tarError } : {})
  }
}

/**
 * scanBlob over a plain tar written into `sink`, for a layer made from a tarball: its content
 * findings are found as the tarball is read, and `result` gives them for the layer the tar ends
 * up in (digest, size and diff_id computed by the builder), as scanBlob on the layer would.
 */
export function tarScanner(): TarStreamCheck & { sink: PassThrough } {
  const sink = new PassThrough()
  const scan = scanBlob(sink, {
    algorithm: 'sha256',
    compression: 'none',
    checkTar: true,
    location: PENDING
  })
  return {
    sink,
    tarError: async () => (await scan).tarError,
    async result(layer) {
      const r = await scan
      // Compression findings were the builder's to check (its own output, or a kept stream it
      // read to its end); what the plain tar shows is the tar's.
      const findings = r.findings.filter(f => !f.rule.startsWith('layer-compression'))
      return scanOf(layer, findings, r.tarError)
    }
  }
}

const BLOCK = 512

/** The data size of a tar header block, octal or base-256 (GNU), as tar-stream reads it. */
function headerSize(h: Buffer): number {
  if (h[124] & 0x80) {
    let n = 0
    for (let i = 125; i < 136; i++) n = n * 256 + h[i]
    return n
  }
  const text = h
    .toString('latin1', 124, 136)
    .replace(/[\0 ]+$/g, '')
    .trim()
  const n = parseInt(text || '0', 8)
  return Number.isFinite(n) ? n : 0
}

/**
 * Follows the tar's block structure alongside tar-stream to find the end-of-archive marker (two
 * zero header blocks), where Go's archive/tar and GNU tar stop reading. tar-stream skips zero
 * blocks and reads on, so without this, entries after the marker would be checked as if they
 * were extracted. Sizes are taken as tar-stream takes them (pax `size` overrides the header).
 */
class TarEnd {
  private pos = 0
  private header: Buffer[] = []
  private headerLen = 0
  /** data bytes (padded) of the current entry still to skip */
  private skip = 0
  /** collecting a pax extended header's data, to read its `size` record */
  private pax: Buffer[] | undefined
  private paxLeft = 0
  private paxSize: number | undefined
  private zeros = 0
  /** offset just after the end-of-archive marker */
  endAt: number | undefined
  /** offset of the first non-zero byte after the marker */
  trailingAt: number | undefined

  /** Returns the part of `d` that belongs to the archive. */
  feed(d: Buffer): Buffer {
    if (this.endAt !== undefined) {
      this.after(d, this.pos)
      this.pos += d.length
      return d.subarray(0, 0)
    }
    let i = 0
    while (i < d.length && this.endAt === undefined) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, d.length - i)
        if (this.pax && this.paxLeft > 0) {
          const m = Math.min(n, this.paxLeft)
          this.pax.push(d.subarray(i, i + m))
          this.paxLeft -= m
        }
        this.skip -= n
        i += n
        if (this.skip === 0 && this.pax) this.endPax()
        continue
      }
      const n = Math.min(BLOCK - this.headerLen, d.length - i)
      this.header.push(d.subarray(i, i + n))
      this.headerLen += n
      i += n
      if (this.headerLen === BLOCK) this.block(Buffer.concat(this.header), this.pos + i)
    }
    const start = this.pos
    this.pos += d.length
    if (this.endAt === undefined) return d
    const cut = this.endAt - start
    this.after(d.subarray(cut), this.endAt)
    return d.subarray(0, cut)
  }

  private after(d: Buffer, offset: number): void {
    if (this.trailingAt !== undefined) return
    const k = d.findIndex(b => b !== 0)
    if (k >= 0) this.trailingAt = offset + k
  }

  private block(h: Buffer, endOffset: number): void {
    this.header = []
    this.headerLen = 0
    if (h.every(b => b === 0)) {
      if (++this.zeros === 2) this.endAt = endOffset
      return
    }
    this.zeros = 0
    const type = String.fromCharCode(h[156])
    let size = headerSize(h)
    if (type === 'x') {
      this.pax = []
      this.paxLeft = Math.min(size, 1024 * 1024)
    } else if (type !== 'g' && type !== 'L' && type !== 'K') {
      if (this.paxSize !== undefined) size = this.paxSize
      this.paxSize = undefined
      if (type === '5') size = 0
    }
    this.skip = Math.ceil(size / BLOCK) * BLOCK
    if (this.skip === 0 && this.pax) this.endPax()
  }

  private endPax(): void {
    const text = Buffer.concat(this.pax ?? []).toString('utf8')
    this.pax = undefined
    const m = /(?:^|\n)\d+ size=(\d+)\n/.exec(text)
    if (m) this.paxSize = parseInt(m[1], 10)
  }
}

/** Normalises a tar path: `./a//b/` → `a/b`; undefined when `..` climbs out of the root. */
export function normalise(p: string): string | undefined {
  const out: string[] = []
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue
    if (part === '..') {
      if (out.length === 0) return undefined
      out.pop()
    } else out.push(part)
  }
  return out.join('/')
}

/** Symlinks followed while resolving one path, as Linux allows (ELOOP beyond). */
const MAX_HOPS = 40

class TarPathChecker {
  /** entry type per normalised path seen so far: to find duplicates and judge hardlink targets */
  private readonly types = new Map<string, string>()
  private readonly symlinks = new Map<string, string>()
  private readonly whiteouts = new Map<string, string>()

  constructor(
    private readonly location: string,
    private readonly add: (f: Finding) => void
  ) {}

  private where(name: string): string {
    return `${this.location} entry ${JSON.stringify(name)}`
  }

  /**
   * Resolves the parent directories of `parts` through this layer's symlinks, lexically: an
   * absolute target restarts at the root (as containerd resolves it), `..` above the root leaves
   * it. Returns the symlink through which the path leaves the root, if it does.
   */
  private escapeVia(parts: string[]): { link: string; target: string } | undefined {
    const queue = parts.slice(0, -1)
    const cur: string[] = []
    let hops = 0
    let last: { link: string; target: string } | undefined
    while (queue.length) {
      const c = queue.shift() as string
      if (c === '' || c === '.') continue
      if (c === '..') {
        if (cur.length === 0) return last
        cur.pop()
        continue
      }
      cur.push(c)
      const target = this.symlinks.get(cur.join('/'))
      if (target === undefined) continue
      last = { link: cur.join('/'), target }
      // A loop fails extraction (ELOOP) without writing anywhere: not an escape.
      if (++hops > MAX_HOPS) return undefined
      cur.pop()
      if (target.startsWith('/')) cur.length = 0
      queue.unshift(...target.split('/'))
    }
    return undefined
  }

  entry(h: tar.Header): void {
    const name = h.name
    const loc = this.where(name)
    const norm = normalise(name)
    if (norm === undefined) {
      this.add(finding('layer-path-escapes', loc, 'the path climbs out of the root with ".."'))
      return
    }
    if (norm === '') return // the root directory itself
    const parts = norm.split('/')
    const via = this.escapeVia(parts)
    if (via)
      this.add(
        finding(
          'layer-path-escapes',
          loc,
          `the path goes through "${via.link}", a symlink in this layer to "${via.target}" that resolves outside the root; extracting it writes outside the image`
        )
      )
    if (this.types.has(norm))
      this.add(
        finding(
          'layer-duplicate-path',
          loc,
          `the path "${norm}" appears more than once in the layer`
        )
      )
    if (h.type === 'link') this.hardlink(h.linkname ?? '', norm, loc)
    this.types.set(norm, h.type ?? 'file')
    if (h.type === 'symlink') this.symlinks.set(norm, h.linkname ?? '')
    else this.symlinks.delete(norm)
    const base = parts[parts.length - 1]
    if (!base.startsWith('.wh.')) return
    if (base === '.wh.') {
      this.add(
        finding('layer-whiteout-bare', loc, 'a whiteout ".wh." without the name of what it deletes')
      )
      return
    }
    if (base.startsWith('.wh..wh.') && base !== '.wh..wh..opq') {
      this.add(
        finding(
          'layer-whiteout-meta',
          loc,
          `"${base}" is aufs metadata, not a whiteout; OCI runtimes ignore or reject it`
        )
      )
      return
    }
    if (h.type !== 'file' && h.type !== 'contiguous-file')
      this.add(
        finding(
          'layer-whiteout',
          loc,
          `a whiteout is a ${h.type}; it must be an empty regular file`
        )
      )
    else if ((h.size ?? 0) > 0)
      this.add(
        finding(
          'layer-whiteout',
          loc,
          `a whiteout has ${h.size} bytes of data; it must be an empty regular file`
        )
      )
    if (base === '.wh..wh..opq') return
    const target = base.slice(4)
    if (target === '.' || target === '..') {
      this.add(
        finding(
          'layer-whiteout',
          loc,
          `a whiteout of "${target}", which names nothing that can be deleted`
        )
      )
      return
    }
    this.whiteouts.set([...parts.slice(0, -1), target].join('/'), name)
  }

  private hardlink(target: string, norm: string, loc: string): void {
    const t = normalise(target)
    if (t === undefined) {
      this.add(
        finding(
          'layer-link-escapes',
          loc,
          `the hardlink target "${target}" climbs out of the root with ".."`
        )
      )
      return
    }
    if (target.startsWith('/'))
      this.add(
        finding(
          'layer-hardlink-target',
          loc,
          `the hardlink target "${target}" is absolute; containerd resolves it under the root, other extractors may not`
        )
      )
    if (t === '' || this.types.get(t) === 'directory') {
      this.add(
        finding(
          'layer-hardlink',
          loc,
          `the hardlink target "${target}" is a directory; hardlinks to directories are not allowed`
        )
      )
      return
    }
    if (!this.types.has(t))
      this.add(
        finding(
          'layer-hardlink-target',
          loc,
          t === norm
            ? `the hardlink points at itself`
            : `the hardlink target "${target}" is not an earlier entry of this layer (missing, or later in the tar); extraction fails or links a file of a lower layer`
        )
      )
  }

  finish(): void {
    for (const [target, name] of this.whiteouts)
      if (this.types.has(target))
        this.add(
          finding(
            'layer-whiteout',
            this.where(name),
            `the whiteout deletes "${target}", which the same layer adds; whiteouts apply only to lower layers`
          )
        )
  }
}

/** The validator's checks as a builder receives them. */
export const layerChecks: LayerChecks = {
  entries: () => new HeaderCheck(),
  tarStream: () => tarScanner()
}
