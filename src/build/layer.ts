import * as fsSync from 'node:fs'
import {
  createReadStream,
  createWriteStream,
  existsSync,
  constants as fsc,
  type Stats
} from 'node:fs'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { PassThrough, Readable, Transform, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import * as tar from 'tar-stream'
import { LadingError, messageOf } from '../util/errors.js'
import { HashingStream } from '../oci/digest.js'
import { layerMediaType, type Compression } from '../oci/mediatypes.js'
import type { Descriptor } from '../oci/types.js'
import type { BlobSink as BlobStore, BlobScan as ScanResult, LayerChecks } from '../oci/scan.js'
import type { MemoryRelief } from '../util/memory.js'
import { compressionLevel, compressorStages, GZIP_BLOCK } from '../codec/compress.js'
import { createDecompressor, detectCompression, isZstdFrame } from '../codec/decompress.js'

export type { Compression } from '../oci/mediatypes.js'
export { parseCompression } from '../codec/compress.js'

export interface LayerInput {
  source: string
  dest?: string
  /** The raw `SOURCE[:DEST]` line, quoted in messages. */
  spec: string
}

export interface LayerOptions {
  compression: Compression
  level?: number
  mtime: Date
  /**
   * Absolute paths never put into a directory layer (the store's root always is one), such as
   * the run's own outputs. An entry ending in '*' matches every path that starts with the rest.
   */
  exclude?: string[]
  /** The validator's checks, run on the tar as it is written or read. */
  checks: LayerChecks
  /** The run's memory relief, told of the Buffers the build leaves behind. */
  relief?: MemoryRelief
}

export interface BuiltLayer {
  descriptor: Descriptor
  /** sha256 of the uncompressed tar. */
  diffId: string
  /** History text; holds no absolute path so the config stays the same across checkouts. */
  createdBy: string
  /**
   * The validator's findings on the layer's content, found as it was written, so the run need not
   * read it back to validate it.
   */
  scan?: ScanResult
}

/** The extensions that make a file a tarball to use as a layer rather than a file to put in one. */
const TARBALL = /\.(tar|tar\.gz|tgz|tar\.zst|tar\.zstd|tzst|tar\.xz|txz|tar\.bz2|tbz2?)$/i

const CHUNK = 1024 * 1024

/** Parses one line of the `layers` input, `SOURCE[:DEST]`. */
export function parseLayerSpec(line: string): LayerInput {
  const spec = line.trim()
  if (!spec) throw new LadingError('layers: an empty line is not a layer; write SOURCE[:DEST]')
  // A name that holds ':' itself, such as "notes:v2.txt", is a SOURCE with no DEST.
  if (existsSync(spec)) return { source: spec, spec }
  // The last ':' before a '/' separates DEST, so sources may hold ':' themselves.
  let cut = spec.lastIndexOf(':/')
  if (cut < 0 && spec.includes(':')) cut = spec.lastIndexOf(':')
  if (cut < 0) return { source: spec, spec }
  const source = spec.slice(0, cut)
  const dest = spec.slice(cut + 1)
  if (!source)
    throw new LadingError(`layers: "${spec}": SOURCE is empty; write SOURCE[:DEST], e.g. dist:/app`)
  if (!dest.startsWith('/'))
    throw new LadingError(
      `layers: "${spec}": DEST "${dest}" must be an absolute path in the image, e.g. ${source}:/${dest || 'app'}`
    )
  return { source, dest, spec }
}

function failure(input: LayerInput, what: string): LadingError {
  return new LadingError(`layers: "${input.spec}": ${what}`)
}

/** A LayerInput with where its SOURCE really is, to show paths inside it as the user wrote them. */
interface Source extends LayerInput {
  top?: string
}

/** A path under SOURCE as the user would write it: SOURCE as given, then the rest. */
function shownPath(input: Source, p: string): string {
  if (p === input.source || !input.top) return p
  if (p === input.top) return input.source
  const rel = path.relative(input.top, p)
  if (rel.startsWith('..') || path.isAbsolute(rel)) return p
  return `${input.source.replace(/\/+$/, '')}/${rel}`
}

/** Bytes as text, printable ASCII kept and everything else as \xNN, for names that are not UTF-8. */
function escapeBytes(b: Buffer): string {
  let out = ''
  for (const byte of b)
    out +=
      byte >= 0x20 && byte < 0x7f && byte !== 0x5c
        ? String.fromCharCode(byte)
        : `\\x${byte.toString(16).padStart(2, '0')}`
  return out
}

function fsProblem(input: Source, p: string, err: unknown): LadingError {
  const code = (err as NodeJS.ErrnoException).code
  const shown = shownPath(input, p)
  if (code === 'ENOENT' || code === 'ENOTDIR')
    return failure(input, `path "${shown}" does not exist`)
  if (code === 'EACCES' || code === 'EPERM')
    return failure(input, `path "${shown}" cannot be read (permission denied); make it readable`)
  return failure(input, `reading "${shown}": ${messageOf(err)}`)
}

/** What the history shows for a source: relative paths as written, absolute ones by name only. */
function shownSource(source: string): string {
  return path.isAbsolute(source) ? path.basename(source) : source
}

/** An entry of the layer: a path in the image, and where it comes from on disk unless synthesised. */
interface Entry {
  name: string
  abs?: string
  /** The SOURCE itself, which may be a symlink to what is meant. */
  follow?: boolean
}

function entry(name: string, abs?: string, follow = false): Entry {
  return { name, abs, follow }
}

/** `usr/local/app` → entries for `usr` and `usr/local`, so the tar needs nothing from a base. */
function parentEntries(name: string): Entry[] {
  const parts = name.split('/')
  const out: Entry[] = []
  for (let i = 1; i < parts.length; i++) out.push(entry(parts.slice(0, i).join('/')))
  return out
}

/** A DEST as a tar name: normalised, no leading or trailing '/', '' for the root. */
function imagePath(dest: string): string {
  return path.posix.normalize(dest).replace(/^\/+/, '').replace(/\/+$/, '')
}

export async function buildLayer(
  input: LayerInput,
  store: BlobStore,
  opts: LayerOptions
): Promise<BuiltLayer> {
  const level = compressionLevel(opts.compression, opts.level)
  const seconds = opts.mtime.getTime() / 1000
  // tar-stream writes mtime as a signed 32-bit count of seconds.
  if (!(seconds >= 0 && seconds < 2 ** 31))
    throw new LadingError(
      `layers: timestamp ${Number.isNaN(seconds) ? '(invalid date)' : opts.mtime.toISOString()} is outside the range a layer can hold (1970-01-01 to 2038-01-19)`
    )
  let st: Stats
  const src: Source = { ...input }
  try {
    st = await fs.stat(input.source)
    // Real paths on both sides, so a symlink on the way to either still lets exclusions match.
    src.top = await fs.realpath(input.source)
  } catch (err) {
    throw fsProblem(input, input.source, err)
  }
  input = src
  const excluded = await exclusions(store, opts.exclude ?? [])
  if (excluded.covers(src.top))
    throw failure(
      input,
      `"${input.source}" is part of what this run writes (the output layout, archive or report); build layers from other paths`
    )
  if (st.isDirectory()) {
    const root = imagePath(input.dest ?? '/')
    const entries = walk(src, excluded, root)
    const createdBy = `lading: COPY ${shownSource(input.source)} /${root}`
    return writeTarLayer(input, store, { ...opts, level }, entries, createdBy)
  }
  if (!st.isFile())
    throw failure(
      input,
      `"${input.source}" is not a directory, a regular file or a tarball; only those can become layers`
    )
  if (TARBALL.test(input.source)) {
    if (input.dest !== undefined)
      throw failure(
        input,
        `a tarball is used as a layer as it is, so it takes no DEST; write "${input.source}" alone or repack it`
      )
    return tarballLayer(input, store, { ...opts, level }, st.size)
  }
  let dest = input.dest ?? '/'
  if (dest.endsWith('/')) dest += path.basename(input.source)
  const name = imagePath(dest)
  if (!name) throw failure(input, `DEST "${input.dest}" names the root directory, not a file`)
  const entries = [...parentEntries(name), entry(name, src.top, true)]
  const createdBy = `lading: COPY ${shownSource(input.source)} /${name}`
  return writeTarLayer(input, store, { ...opts, level }, entries, createdBy)
}

/** Where a path really is; for a path not made yet, where it would be. */
async function canonical(p: string): Promise<string> {
  const abs = path.resolve(p)
  try {
    return await fs.realpath(abs)
  } catch {
    try {
      return path.join(await fs.realpath(path.dirname(abs)), path.basename(abs))
    } catch {
      return abs
    }
  }
}

interface Exclusions {
  /** Whether the path is excluded itself. */
  has(abs: string): boolean
  /** Whether the path is excluded or inside something excluded. */
  covers(abs: string): boolean
}

async function exclusions(store: BlobStore, patterns: string[]): Promise<Exclusions> {
  const exact = new Set([await canonical(store.root)])
  const prefixes: string[] = []
  for (const p of patterns) {
    if (p.endsWith('*')) {
      // Canonicalise the directory part only: the rest is a name prefix, not a path.
      const stem = p.slice(0, -1)
      const dir = stem.endsWith('/') ? stem : path.dirname(stem)
      const real = await canonical(dir)
      prefixes.push(
        stem.endsWith('/') ? real.replace(/\/*$/, '/') : path.join(real, path.basename(stem))
      )
    } else exact.add(await canonical(p))
  }
  const has = (abs: string) => exact.has(abs) || prefixes.some(pre => abs.startsWith(pre))
  return {
    has,
    covers: abs => has(abs) || [...exact].some(e => abs.startsWith(e.endsWith('/') ? e : `${e}/`))
  }
}

/**
 * Every path under the source directory, with DEST and its parents, depth first: each directory
 * just before its contents, and the names in a directory in byte order (as `tar --sort=name`).
 * Directories are read one at a time as the tar is written, so a tree costs the memory of the
 * directories on one path down it, not of a list of every file in it.
 */
function* walk(input: Source, excluded: Exclusions, root: string): Generator<Entry> {
  const top = input.top!
  if (root) {
    yield* parentEntries(root)
    yield entry(root, top, true)
  }
  yield* walkDir(input, excluded, top, root)
}

function* walkDir(
  input: Source,
  excluded: Exclusions,
  abs: string,
  name: string
): Generator<Entry> {
  let children
  try {
    // As bytes: a name that is not UTF-8 would otherwise be mangled into one that does not exist.
    children = fsSync.readdirSync(abs, { withFileTypes: true, encoding: 'buffer' })
  } catch (err) {
    throw fsProblem(input, abs, err)
  }
  children.sort((a, b) => Buffer.compare(a.name, b.name))
  for (const child of children) {
    const base = child.name.toString('utf8')
    if (!Buffer.from(base, 'utf8').equals(child.name))
      throw failure(
        input,
        `the name "${escapeBytes(child.name)}" under "${shownPath(input, abs)}" is not valid UTF-8, which layer paths must be; rename it`
      )
    const childAbs = path.join(abs, base)
    // Building from '.' into a layout under '.' must not swallow the layer being written.
    if (excluded.has(childAbs) || child.isSocket()) continue
    const childName = name ? `${name}/${base}` : base
    yield entry(childName, childAbs)
    if (child.isDirectory()) yield* walkDir(input, excluded, childAbs, childName)
  }
}

/** What one tar entry is counted as for memory relief, beyond its bytes. */
const ENTRY_GARBAGE = 8 * 1024

/** Bytes per chunk handed on from the tar writer: one gzip member each, with no more copying. */
const COALESCE = GZIP_BLOCK

/** The tar in chunks of exactly COALESCE bytes (the last may be shorter), each byte copied once. */
async function* coalesce(src: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let out = Buffer.allocUnsafe(COALESCE)
  let n = 0
  for await (const c of src) {
    let at = 0
    while (at < c.length) {
      const k = c.copy(out, n, at)
      n += k
      at += k
      if (n === COALESCE) {
        yield out
        out = Buffer.allocUnsafe(COALESCE)
        n = 0
      }
    }
  }
  if (n) yield out.subarray(0, n)
}

interface ResolvedOptions extends LayerOptions {
  level: number | undefined
}

async function writeTarLayer(
  input: LayerInput,
  store: BlobStore,
  opts: ResolvedOptions,
  entries: Iterable<Entry>,
  createdBy: string
): Promise<BuiltLayer> {
  const pack = tar.pack()
  // A failure to read the tree destroys the pack with it; it is reported through `produced`.
  pack.on('error', () => {})
  const check = opts.checks.entries()
  const produced = fillPack(input, pack, entries, opts.mtime, h => {
    check.entry(h)
    // Each entry leaves a few KiB of objects (header, tar-stream sink, promises) besides its
    // bytes, which for trees of small files is most of the garbage.
    opts.relief?.moved(ENTRY_GARBAGE)
  }).then(
    () => pack.finalize(),
    err => {
      pack.destroy(err)
      throw err
    }
  )
  // tar-stream emits each header, body and padding on its own; in large chunks, the stages
  // after it do their per-chunk work (hashing, compressing, writing) thousands of times less.
  const tarStream = Readable.from(coalesce(pack as AsyncIterable<Buffer>), { objectMode: false })
  const diffHash = new HashingStream('sha256', opts.relief)
  const digestHash =
    opts.compression === 'none' ? diffHash : new HashingStream('sha256', opts.relief)
  const stages =
    digestHash === diffHash
      ? [diffHash]
      : [diffHash, ...compressorStages(opts.compression, opts.level), digestHash]
  await intoStore(input, store, {
    src: tarStream,
    stages,
    also: [produced],
    digest: digestHash,
    explain: err => `writing the layer into ${store.root}: ${messageOf(err)}`,
    onError: () => pack.destroy(new Error('layer output failed'))
  })
  const built = builtLayer(opts.compression, digestHash, diffHash, createdBy)
  built.scan = check.result({ ...built.descriptor, diffId: built.diffId })
  return built
}

function builtLayer(
  compression: Compression,
  digestHash: HashingStream,
  diffHash: HashingStream,
  createdBy: string
): BuiltLayer {
  return {
    descriptor: {
      mediaType: layerMediaType(compression),
      digest: digestHash.digest(),
      size: digestHash.size
    },
    diffId: diffHash.digest(),
    createdBy
  }
}

interface Flow {
  src: Readable
  stages: Array<Transform | Writable>
  /** Work running beside the pipeline whose failure fails the layer too. */
  also: Array<Promise<unknown>>
  /** The hash of what reaches the file. */
  digest: HashingStream
  /** The message for a failure that is not the output file's nor already a LadingError. */
  explain: (err: unknown) => string
  onError?: () => void
  /** Runs once everything has flowed; false drops the file instead of storing it. */
  accept?: () => Promise<boolean>
}

/**
 * Runs `src → stages → temp file`, then moves the file to its digest. Any failure, in the
 * pipeline or beside it, removes the temp file; the message comes from where the failure began.
 * Returns false when `accept` turned the result down.
 */
async function intoStore(input: LayerInput, store: BlobStore, flow: Flow): Promise<boolean> {
  const tmp = store.tempPath()
  const file = createWriteStream(tmp)
  const chain = [flow.src, ...flow.stages, file]
  let origin: unknown
  // Pipeline destroys every stage with the first error; the first to report it is where it began.
  for (const s of chain) (s as NodeJS.EventEmitter).once('error', () => (origin ??= s))
  const out = pipeline(chain as [Readable, ...Transform[], Writable]).catch(err => {
    flow.onError?.()
    throw err
  })
  const results = await Promise.allSettled([out, ...flow.also])
  const errors = results.flatMap(r => (r.status === 'rejected' ? [r.reason as unknown] : []))
  if (errors.length) {
    await fs.rm(tmp, { force: true })
    const user = errors.find(e => e instanceof LadingError)
    if (user) throw user
    if (origin === file)
      throw failure(input, `writing the layer into ${store.root}: ${messageOf(errors[0])}`)
    throw failure(input, flow.explain(errors[0]))
  }
  let accepted: boolean
  try {
    accepted = flow.accept ? await flow.accept() : true
  } catch (err) {
    await fs.rm(tmp, { force: true })
    throw err
  }
  if (!accepted) {
    await fs.rm(tmp, { force: true })
    return false
  }
  try {
    await store.commit(tmp, flow.digest.digest())
  } catch (err) {
    await fs.rm(tmp, { force: true })
    throw failure(input, `writing the layer into ${store.root}: ${messageOf(err)}`)
  }
  return true
}

type Header = Parameters<tar.Pack['entry']>[0]

function waitFor(
  emitter: {
    once(ev: string, fn: (...a: unknown[]) => void): unknown
    off(ev: string, fn: (...a: unknown[]) => void): unknown
  },
  ok: string
): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (err?: unknown) => {
      emitter.off(ok, onOk)
      emitter.off('close', onClose)
      emitter.off('error', onError)
      if (err) reject(err as Error)
      else resolve()
    }
    const onOk = () => settle()
    const onClose = () => settle(new Error('tar stream closed'))
    const onError = (err: unknown) => settle(err ?? new Error('tar stream failed'))
    emitter.once(ok, onOk)
    emitter.once('close', onClose)
    emitter.once('error', onError)
  })
}

/** Files up to this size are read whole when their turn comes; larger ones are streamed. */
const WHOLE_FILE = 256 * 1024

/*
 * Stats and small files are read with synchronous calls. Through libuv's pool, each call costs
 * the main thread tens of microseconds, which for trees of many small files is most of a build;
 * a synchronous call on a cached file costs a few. The pool stays free for the compressor.
 */

/** An entry's stat (following the SOURCE itself when it is a symlink to what is meant). */
function statOf(input: Source, e: Entry): Stats {
  const abs = e.abs as string
  try {
    return e.follow ? fsSync.statSync(abs) : fsSync.lstatSync(abs)
  } catch (err) {
    throw fsProblem(input, abs, err)
  }
}

/** Bytes of the slabs small files are read into. */
const SLAB = 1024 * 1024

/**
 * Hands out pieces of 1 MiB slabs for small files' bytes: one allocation for many files instead of
 * one each, so that the collector has a few large Buffers to free rather than thousands of small
 * ones. A slab is freed once the tar has copied every piece of it.
 */
let slab = Buffer.allocUnsafe(0)
let slabUsed = 0

function piece(n: number): Buffer {
  if (n > SLAB / 8) return Buffer.allocUnsafe(n)
  if (slabUsed + n > slab.length) {
    slab = Buffer.allocUnsafe(SLAB)
    slabUsed = 0
  }
  const b = slab.subarray(slabUsed, slabUsed + n)
  // 8-byte aligned, as Node's own pool is.
  slabUsed += (n + 7) & ~7
  return b
}

/** A file's bytes, with one read more to notice a file that grew since its stat. */
function readWhole(abs: string, size: number): Buffer {
  const fd = fsSync.openSync(abs, 'r')
  try {
    const buf = piece(size + 1)
    let n = 0
    while (n < buf.length) {
      const got = fsSync.readSync(fd, buf, n, buf.length - n, n)
      if (got === 0) break
      n += got
    }
    return buf.subarray(0, n)
  } finally {
    fsSync.closeSync(fd)
  }
}

async function fillPack(
  input: LayerInput,
  pack: tar.Pack,
  entries: Iterable<Entry>,
  mtime: Date,
  onHeader?: (h: Header) => void
): Promise<void> {
  const firstPathOf = new Map<string, string>()
  // tar-stream replaces a zero mode by its default, so the type bits ride along to keep 0o000.
  const base = { uid: 0, gid: 0, uname: '', gname: '', mtime }
  /** Every entry, as it is written: checked, and counted for memory relief. */
  const note = (header: Header): void => {
    onHeader?.(header)
  }
  const add = (header: Header, body?: Buffer): Promise<void> => {
    note(header)
    return new Promise((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve())
      if (body) pack.entry(header, body, cb)
      else pack.entry(header, cb)
    })
  }
  for (const e of entries) {
    if (!e.abs) {
      await add({ ...base, name: `${e.name}/`, type: 'directory', mode: fsc.S_IFDIR | 0o755 })
      continue
    }
    const st = statOf(input, e)
    const mode = st.mode
    if (st.isDirectory()) {
      await add({ ...base, name: `${e.name}/`, type: 'directory', mode })
    } else if (st.isSymbolicLink()) {
      let raw: Buffer
      try {
        raw = fsSync.readlinkSync(e.abs, { encoding: 'buffer' })
      } catch (err) {
        throw fsProblem(input, e.abs, err)
      }
      const target = raw.toString('utf8')
      if (!Buffer.from(target, 'utf8').equals(raw))
        throw failure(
          input,
          `the symlink "${shownPath(input, e.abs)}" points to "${escapeBytes(raw)}", which is not valid UTF-8 as layer paths must be; change the link`
        )
      await add({ ...base, name: e.name, type: 'symlink', linkname: target, mode })
    } else if (st.isFile()) {
      if (st.nlink > 1) {
        const id = `${st.dev}:${st.ino}`
        const first = firstPathOf.get(id)
        if (first !== undefined) {
          await add({ ...base, name: e.name, type: 'link', linkname: first, mode })
          continue
        }
        firstPathOf.set(id, e.name)
      }
      const header: Header = { ...base, name: e.name, type: 'file', mode, size: st.size }
      if (st.size <= WHOLE_FILE) {
        let body: Buffer
        try {
          body = readWhole(e.abs, st.size)
        } catch (err) {
          throw fsProblem(input, e.abs, err)
        }
        if (body.length !== st.size) throw changed(input, e.abs)
        // tar-stream takes an empty buffer as "no body given" and waits for a stream.
        await add(header, body.length ? body : Buffer.alloc(0))
      } else await addFile(input, pack, header, e.abs, st.size, note)
    } else if (st.isFIFO()) {
      await add({ ...base, name: e.name, type: 'fifo', mode })
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      await add({
        ...base,
        name: e.name,
        type: st.isCharacterDevice() ? 'character-device' : 'block-device',
        mode,
        devmajor: Math.floor(st.rdev / 256) & 0xfff,
        devminor: (st.rdev & 0xff) | (Math.floor(st.rdev / 4096) & 0xfff00)
      })
    }
    // Sockets are runtime objects with no content; they are left out.
  }
}

function changed(input: Source, abs: string): LadingError {
  return failure(input, `file "${shownPath(input, abs)}" changed while it was being read; retry`)
}

/** A file too large to read whole, streamed into the tar in CHUNK reads, one read ahead. */
async function addFile(
  input: LayerInput,
  pack: tar.Pack,
  header: Header,
  abs: string,
  size: number,
  note: (h: Header) => void
): Promise<void> {
  let fh: fs.FileHandle
  try {
    fh = await fs.open(abs, 'r')
  } catch (err) {
    throw fsProblem(input, abs, err)
  }
  try {
    let done!: Promise<void>
    note(header)
    const sink = await new Promise<ReturnType<tar.Pack['entry']>>(resolve => {
      done = new Promise((res, rej) => {
        resolve(pack.entry(header, err => (err ? rej(err) : res())))
      })
    })
    done.catch(() => {})
    let pos = 0
    // The next read is under way while the last chunk goes into the tar.
    const readAt = (at: number) => {
      const want = Math.min(CHUNK, size - at)
      const buf = Buffer.allocUnsafe(want)
      const r = fh.read(buf, 0, want, at).then(({ bytesRead }) => buf.subarray(0, bytesRead))
      r.catch(() => {})
      return r
    }
    let pending = readAt(0)
    while (pos < size) {
      let chunk: Buffer
      try {
        chunk = await pending
      } catch (err) {
        sink.destroy(err as Error)
        throw fsProblem(input, abs, err)
      }
      if (chunk.length === 0) {
        const err = changed(input, abs)
        sink.destroy(err)
        throw err
      }
      pos += chunk.length
      if (pos < size) pending = readAt(pos)
      if (!sink.write(chunk)) await waitFor(sink, 'drain')
    }
    // A file that grew since its stat would be cut short silently.
    const { bytesRead } = await fh.read(Buffer.alloc(1), 0, 1, size)
    if (bytesRead !== 0) {
      const err = changed(input, abs)
      sink.destroy(err)
      throw err
    }
    sink.end(null)
    await done
  } finally {
    await fh.close()
  }
}

/**
 * A stage that also feeds what passes through to a side pipeline, waiting for it, so one read of
 * a stream serves two consumers with backpressure from both.
 */
function tee(side: Array<Transform | Writable>): { stage: Transform; done: Promise<void> } {
  const head = new PassThrough()
  const done = pipeline([head, ...side] as unknown as [Readable, Writable])
  const stage = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (head.write(chunk)) cb(null, chunk)
      else head.once('drain', () => cb(null, chunk))
    },
    flush(cb) {
      head.end()
      done.then(() => cb(), cb)
    },
    destroy(err, cb) {
      // The side must not wait for input that will never come once the main pipeline failed.
      if (!head.writableFinished) head.destroy(err ?? new Error('stopped'))
      cb(err)
    }
  })
  done.catch(err => stage.destroy(err))
  return { stage, done }
}

async function readAt(input: LayerInput, at: number, n: number): Promise<Buffer> {
  const buf = Buffer.alloc(n)
  try {
    const fh = await fs.open(input.source, 'r')
    try {
      const { bytesRead } = await fh.read(buf, 0, n, at)
      return buf.subarray(0, bytesRead)
    } finally {
      await fh.close()
    }
  } catch (err) {
    throw fsProblem(input, input.source, err)
  }
}

async function tarballLayer(
  input: LayerInput,
  store: BlobStore,
  opts: ResolvedOptions,
  size: number
): Promise<BuiltLayer> {
  const format = detectCompression(await readAt(input, 0, 6))
  if (format === 'xz' || format === 'bzip2')
    throw failure(
      input,
      `"${input.source}" is compressed with ${format}, which layers cannot use; recompress it with gzip or zstd, or give the plain .tar`
    )
  // Bytes after the compressed stream (padding, a second zstd frame) are skipped by some readers and
  // fatal to others (Go's gzip: "invalid header"), so only a stream that is the whole file is kept.
  if (format === opts.compression) {
    const kept = await tarballPass(input, store, opts, format, size, true)
    if (kept) return kept
  }
  return (await tarballPass(input, store, opts, format, size, false))!
}

/** One read of a tarball: kept byte for byte when `keep`, else decompressed and recompressed. */
async function tarballPass(
  input: LayerInput,
  store: BlobStore,
  opts: ResolvedOptions,
  format: Compression,
  size: number,
  keep: boolean
): Promise<BuiltLayer | undefined> {
  const createdBy = `lading: ADD ${shownSource(input.source)} /`
  const src = createReadStream(input.source, { highWaterMark: CHUNK })
  // The validator's own checks of the tar, as it is read: the layer need not be read back.
  const scanner = opts.checks.tarStream()
  const check = scanner.sink
  const decompressor = format === 'none' ? undefined : createDecompressor(format)
  const decompress = decompressor ? [decompressor] : []
  let diffHash: HashingStream
  let digestHash: HashingStream
  let stages: Array<Transform | Writable>
  let side: Promise<void>
  if (keep) {
    // The bytes are kept, and the tar inside is hashed and checked alongside.
    digestHash = new HashingStream('sha256', opts.relief)
    diffHash = decompressor ? new HashingStream('sha256', opts.relief) : digestHash
    const t = tee(decompressor ? [decompressor, diffHash, check] : [check])
    stages = [digestHash, t.stage]
    side = t.done
  } else {
    diffHash = new HashingStream('sha256', opts.relief)
    const t = tee([check])
    side = t.done
    if (opts.compression === 'none') {
      digestHash = diffHash
      stages = [...decompress, diffHash, t.stage]
    } else {
      digestHash = new HashingStream('sha256', opts.relief)
      stages = [
        ...decompress,
        diffHash,
        t.stage,
        ...compressorStages(opts.compression, opts.level),
        digestHash
      ]
    }
  }
  const kind = format === 'none' ? 'tar' : `${format} tarball`
  const stored = await intoStore(input, store, {
    src,
    stages,
    also: [side],
    digest: digestHash,
    explain: err => {
      const code = (err as NodeJS.ErrnoException).code
      if (code && (err as NodeJS.ErrnoException).syscall) throw fsProblem(input, input.source, err)
      return `"${input.source}" is not a readable ${kind}: ${messageOf(err)}`
    },
    accept: async () => {
      const tarError = await scanner.tarError()
      if (tarError !== undefined)
        throw failure(input, `"${input.source}" is not a readable ${kind}: ${tarError}`)
      const consumed = decompressor ? (decompressor as Transform & ZlibCounted).bytesWritten : size
      if (consumed >= size) return true
      // Node's zstd reader stops after one frame; what follows would be left out silently.
      if (format === 'zstd' && isZstdFrame(await readAt(input, consumed, 4)))
        throw failure(
          input,
          `"${input.source}" holds more than one zstd frame, which Lading cannot read; recompress it with plain zstd (one frame) or give the plain .tar`
        )
      return !keep
    }
  })
  if (!stored) return undefined
  const built = builtLayer(opts.compression, digestHash, diffHash, createdBy)
  built.scan = await scanner.result({ ...built.descriptor, diffId: built.diffId })
  return built
}

/** zlib streams count the input bytes they consumed, which stops short of trailing bytes. */
interface ZlibCounted {
  bytesWritten: number
}
