/**
 * Reads a blob once: the raw bytes are hashed (the descriptor digest) while they are decompressed,
 * and the decompressed bytes are hashed (the diff_id) while tar-stream parses them for the path
 * and whiteout rules. Nothing is buffered beyond the streams' own chunks.
 */
import { createHash } from 'node:crypto'
import type { Readable, Transform } from 'node:stream'
import * as zlib from 'node:zlib'
import tar from 'tar-stream'
import type { Compression } from '../oci/mediatypes.js'
import { finding, type Finding } from './rules.js'
import { messageOf } from '../errors.js'

export interface ScanResult {
  /** bytes read from the blob */
  size: number
  /** digest of the raw bytes (undefined when the blob could not be read to its end) */
  digest?: string
  /** sha256 of the decompressed bytes, when the layer decompressed to its end */
  diffId?: string
  /** why reading the raw bytes failed */
  readError?: string
  /** content findings (compression, tar, paths, whiteouts) */
  findings: Finding[]
}

export interface ScanOptions {
  /** hash algorithm of the descriptor digest (registered ones only) */
  algorithm: string
  /** what the media type declares; undefined: an opaque blob, only hashed */
  compression?: Compression
  /** parse the tar for path and whiteout rules */
  checkTar: boolean
  /** location prefix of content findings, e.g. `layer sha256:ab12…` */
  location: string
}

/** Content findings per layer beyond this are summarised, so a hostile layer cannot flood memory. */
const MAX_FINDINGS = 50

function sniff(chunk: Buffer): Compression {
  if (chunk.length >= 2 && chunk[0] === 0x1f && chunk[1] === 0x8b) return 'gzip'
  if (chunk.length >= 4 && chunk.readUInt32LE(0) === 0xfd2fb528) return 'zstd'
  return 'none'
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

export async function scanBlob(raw: Readable, opts: ScanOptions): Promise<ScanResult> {
  const findings: Finding[] = []
  let dropped = 0
  const add = (f: Finding): void => {
    if (findings.length < MAX_FINDINGS) findings.push(f)
    else dropped++
  }
  const rawHash = createHash(opts.algorithm)
  let size = 0
  const layer = opts.compression !== undefined
  const diffHash = createHash('sha256')
  let decomp: Transform | undefined
  let decompError: string | undefined
  let decompEnded: Promise<void> | undefined
  let tarError: string | undefined
  /** entries whose data has not been read to its end; none when a tar lacks only its trailer */
  let openEntries = 0
  let extract: tar.Extract | undefined
  let extractDone: Promise<void> | undefined
  const paths = opts.checkTar ? new TarPathChecker(opts.location, add) : undefined
  let first = true
  let actual: Compression = 'none'

  const toTar = (d: Buffer): boolean => {
    diffHash.update(d)
    if (!extract || tarError !== undefined) return true
    return extract.write(d)
  }

  const startPipeline = (chunk: Buffer): void => {
    actual = sniff(chunk)
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
    const d: Transform =
      actual === 'gzip'
        ? zlib.createGunzip({ chunkSize: 128 * 1024 })
        : zlib.createZstdDecompress({ chunkSize: 128 * 1024 })
    decomp = d
    d.on('data', (out: Buffer) => {
      if (!toTar(out)) {
        d.pause()
        void waitDrain(extract as unknown as NodeJS.EventEmitter).then(() => d.resume())
      }
    })
    decompEnded = new Promise(resolve => {
      d.on('end', () => resolve())
      d.on('error', (err: Error) => {
        decompError ??= err.message
        resolve()
      })
    })
  }

  try {
    for await (const chunk of raw as AsyncIterable<Buffer>) {
      rawHash.update(chunk)
      size += chunk.length
      if (!layer) continue
      if (first) {
        first = false
        startPipeline(chunk)
      }
      if (decomp) {
        if (decompError !== undefined) continue
        if (!decomp.write(chunk)) await waitDrain(decomp)
      } else if (decompError === undefined && !toTar(chunk) && extract)
        await waitDrain(extract as unknown as NodeJS.EventEmitter)
    }
  } catch (err) {
    decomp?.destroy()
    extract?.destroy()
    return { size, readError: messageOf(err), findings }
  }
  const digest = `${opts.algorithm}:` + rawHash.digest('hex')
  if (!layer) return { size, digest, findings }
  if (first) startPipeline(Buffer.alloc(0))

  if (decomp) {
    if (decompError === undefined) decomp.end()
    await decompEnded
  }
  if (decompError !== undefined) {
    if (decomp)
      add(
        finding(
          'layer-decompress',
          opts.location,
          `the ${actual} stream is corrupt: ${decompError}`
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
  }
  if (dropped)
    add(
      finding('layer-tar', opts.location, `${dropped} more findings in this layer were not listed`)
    )
  return {
    size,
    digest,
    diffId: decompError === undefined ? 'sha256:' + diffHash.digest('hex') : undefined,
    findings
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

class TarPathChecker {
  private readonly seen = new Set<string>()
  private readonly symlinks = new Set<string>()
  private readonly whiteouts = new Map<string, string>()

  constructor(
    private readonly location: string,
    private readonly add: (f: Finding) => void
  ) {}

  private where(name: string): string {
    return `${this.location} entry ${JSON.stringify(name)}`
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
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(0, i).join('/')
      if (this.symlinks.has(prefix)) {
        this.add(
          finding(
            'layer-path-escapes',
            loc,
            `the path goes through "${prefix}", a symlink in this layer; extracting it writes wherever the link points`
          )
        )
        break
      }
    }
    if (this.seen.has(norm))
      this.add(
        finding(
          'layer-duplicate-path',
          loc,
          `the path "${norm}" appears more than once in the layer`
        )
      )
    this.seen.add(norm)
    if (h.type === 'symlink') this.symlinks.add(norm)
    if (h.type === 'link') {
      const target = h.linkname ?? ''
      if (target.startsWith('/') || normalise(target) === undefined || normalise(target) === '')
        this.add(
          finding(
            'layer-link-escapes',
            loc,
            `the hardlink target "${target}" is not a relative path inside the root`
          )
        )
    }
    const base = parts[parts.length - 1]
    if (!base.startsWith('.wh.')) return
    if (base === '.wh.') {
      this.add(
        finding('layer-whiteout-bare', loc, 'a whiteout ".wh." without the name of what it deletes')
      )
      return
    }
    if (h.type === 'directory')
      this.add(finding('layer-whiteout', loc, 'a whiteout is a directory; it must be a file'))
    if (base === '.wh..wh..opq') return
    const target = base.slice(4)
    if (target === '.' || target === '..' || target.startsWith('.wh.')) {
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

  finish(): void {
    for (const [target, name] of this.whiteouts)
      if (this.seen.has(target))
        this.add(
          finding(
            'layer-whiteout',
            this.where(name),
            `the whiteout deletes "${target}", which the same layer adds; whiteouts apply only to lower layers`
          )
        )
  }
}
