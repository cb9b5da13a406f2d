/**
 * Writes a layer's entries into a tar-stream pack: headers with fixed owners and times, hard links
 * to the first path of a file, PAX records for long names (tar-stream's), and file bodies read
 * from disk, small ones whole and large ones streamed.
 */
import * as fsSync from 'node:fs'
import { constants as fsc, type Stats } from 'node:fs'
import * as fs from 'node:fs/promises'
import { Readable } from 'node:stream'
import type * as tar from 'tar-stream'
import { GZIP_BLOCK } from '../../codec/compress.js'
import {
  changedWhileRead,
  escapeBytes,
  fileSystemError,
  layerError,
  shownPath,
  type LocatedInput
} from './input-errors.js'
import type { SlabPool } from './slabs.js'
import { layerMode } from './modes.js'
import type { TreeEntry } from './walk.js'

export type TarHeader = Parameters<tar.Pack['entry']>[0]
type EntrySink = ReturnType<tar.Pack['entry']>

export interface TarWriterOptions {
  mtime: Date
  /** Where small files' bytes are read into. */
  slabs: SlabPool
  /** Sees every header as it goes into the tar. */
  onHeader: (header: TarHeader) => void
  /** The owner of every entry read from disk (`--chown`); root when unset. */
  owner?: { uid: number; gid: number }
  /** The permission bits of every entry read from disk but symlinks (`--chmod`). */
  chmod?: number
  /** The file system's platform, which decides how far its modes mean anything (modes.ts). */
  platform?: NodeJS.Platform
  /**
   * Files' bytes left to whoever reads the tar: each body goes into the pack as views of
   * PLACEHOLDER (zeros, never written), told here first, in the order of the tar. The reader
   * knows a body by its memory and has the file read in its place (tar-recipes.ts: a diff pass
   * hashing on a thread, a gzip build's libdeflate threads).
   */
  deferBody?: (abs: string, size: number) => void
  /** With deferBody: files up to this size are read here all the same (default: none). */
  readUpTo?: number
}

/** What a deferred file body is made of in the pack: its reader reads the file instead. */
export const PLACEHOLDER = Buffer.alloc(1024 * 1024)

/** Files up to this size are read whole when their turn comes; larger ones are streamed. */
const WHOLE_FILE = 256 * 1024

/** Bytes per read of a streamed file. */
const READ_CHUNK = 1024 * 1024

/** Bytes per chunk handed on from the tar writer: one gzip member each, with no more copying. */
const OUTPUT_CHUNK = GZIP_BLOCK

/**
 * Writes every entry into the pack, in order. Rejects with the first failure (a LadingError naming
 * the path for anything on disk), leaving the pack for the caller to destroy or finalize.
 */
export async function writeEntries(
  input: LocatedInput,
  pack: tar.Pack,
  entries: Iterable<TreeEntry>,
  opts: TarWriterOptions
): Promise<void> {
  const writer = new TarWriter(input, pack, opts)
  for (const e of entries) await writer.write(e)
}

/**
 * The pack's bytes in chunks of exactly OUTPUT_CHUNK (the last may be shorter), each byte copied
 * once. tar-stream emits each header, body and padding on its own; in large chunks, the stages
 * after it do their per-chunk work (hashing, compressing, writing) far fewer times.
 */
export function packInChunks(pack: tar.Pack, slabs: SlabPool): Readable {
  return Readable.from(fixedChunks(pack as AsyncIterable<Buffer>, slabs), { objectMode: false })
}

/** Copies the pack's output into fixed chunks, giving each file's bytes back once copied. */
async function* fixedChunks(src: AsyncIterable<Buffer>, slabs: SlabPool): AsyncGenerator<Buffer> {
  let out = slabs.take(OUTPUT_CHUNK)
  let n = 0
  for await (const c of src) {
    let at = 0
    while (at < c.length) {
      const k = c.copy(out, n, at)
      n += k
      at += k
      if (n === OUTPUT_CHUNK) {
        yield out
        out = slabs.take(OUTPUT_CHUNK)
        n = 0
      }
    }
    slabs.release(c)
  }
  if (n) yield out.subarray(0, n)
}

/*
 * Stats and small files are read with synchronous calls. Through libuv's pool, each call costs
 * the main thread far more than a synchronous call on a cached file, which for trees of many small
 * files is most of a build. The pool stays free for the compressor.
 */

class TarWriter {
  /** The first path written for each (device, inode) of a file with several links. */
  private readonly firstPathOf = new Map<string, string>()
  /** Owners and times fixed, so that the same tree makes the same layer on any machine. */
  private readonly common: Pick<TarHeader, 'uid' | 'gid' | 'uname' | 'gname' | 'mtime'>
  /** The same for entries read from disk, with `--chown` applied. */
  private readonly owned: Pick<TarHeader, 'uid' | 'gid' | 'uname' | 'gname' | 'mtime'>

  constructor(
    private readonly input: LocatedInput,
    private readonly pack: tar.Pack,
    private readonly opts: TarWriterOptions
  ) {
    this.common = { uid: 0, gid: 0, uname: '', gname: '', mtime: opts.mtime }
    this.owned = { ...this.common, ...opts.owner }
  }

  async write(e: TreeEntry): Promise<void> {
    if (!e.abs) {
      // A parent of DEST stands for a directory the base most likely has: root's, 0755.
      const header = { ...this.common, name: `${e.name}/` }
      await this.add({ ...header, type: 'directory', mode: fsc.S_IFDIR | 0o755 })
      return
    }
    const base = { ...this.owned, name: e.name }
    const st = this.stat(e.abs, e.followLink ?? false)
    const mode = this.modeOf(st)
    if (st.isDirectory()) await this.add({ ...base, name: `${e.name}/`, type: 'directory', mode })
    else if (st.isSymbolicLink())
      await this.add({ ...base, type: 'symlink', linkname: this.linkTarget(e.abs), mode })
    else if (st.isFile()) await this.addFile(base, e, st)
    else if (st.isFIFO()) await this.add({ ...base, type: 'fifo', mode })
    else if (st.isCharacterDevice() || st.isBlockDevice())
      await this.add({
        ...base,
        type: st.isCharacterDevice() ? 'character-device' : 'block-device',
        mode,
        devmajor: Math.floor(st.rdev / 256) & 0xfff,
        devminor: (st.rdev & 0xff) | (Math.floor(st.rdev / 4096) & 0xfff00)
      })
    // Sockets are runtime objects with no content; they are left out.
  }

  /**
   * The mode written for an entry: `--chmod`'s bits, or on Windows the fixed ones, with the type
   * bits kept (tar-stream replaces a zero mode by its default; the type bits keep 0o000 as given).
   * A symlink's own mode means nothing to Linux; it is left as read.
   */
  /**
   * An entry's mode: `--chmod` for files and directories, else what the file system says where
   * it means anything (modes.ts). tar-stream replaces a zero mode by its default, so the type
   * bits ride along to keep 0o000.
   */
  private modeOf(st: Stats): number {
    const type = st.mode & fsc.S_IFMT
    if (this.opts.chmod !== undefined && !st.isSymbolicLink()) return type | this.opts.chmod
    return layerMode(st.mode, this.opts.platform)
  }

  /** An entry's stat, following the SOURCE itself when it is a symlink to what is meant. */
  private stat(abs: string, followLink: boolean): Stats {
    try {
      return followLink ? fsSync.statSync(abs) : fsSync.lstatSync(abs)
    } catch (err) {
      throw fileSystemError(this.input, abs, err)
    }
  }

  private linkTarget(abs: string): string {
    let raw: Buffer
    try {
      raw = fsSync.readlinkSync(abs, { encoding: 'buffer' })
    } catch (err) {
      throw fileSystemError(this.input, abs, err)
    }
    const target = raw.toString('utf8')
    if (!Buffer.from(target, 'utf8').equals(raw))
      throw layerError(
        this.input,
        `the symlink "${shownPath(this.input, abs)}" points to "${escapeBytes(raw)}", which is not valid UTF-8 as layer paths must be; change the link`
      )
    return target
  }

  /** A regular file: a hard link to its first path if written already, else its bytes. */
  private async addFile(base: TarHeader, e: TreeEntry, st: Stats): Promise<void> {
    const abs = e.abs!
    if (st.nlink > 1) {
      const id = `${st.dev}:${st.ino}`
      const first = this.firstPathOf.get(id)
      if (first !== undefined) {
        await this.add({ ...base, type: 'link', linkname: first, mode: this.modeOf(st) })
        return
      }
      this.firstPathOf.set(id, e.name)
    }
    const header: TarHeader = { ...base, type: 'file', mode: this.modeOf(st), size: st.size }
    if (this.opts.deferBody && st.size > (this.opts.readUpTo ?? 0))
      return this.placeholderFile(header, abs, st.size)
    if (st.size > WHOLE_FILE) return this.streamFile(header, abs, st.size)
    let body: Buffer
    try {
      body = this.readWhole(abs, st.size)
    } catch (err) {
      throw fileSystemError(this.input, abs, err)
    }
    if (body.length !== st.size) throw changedWhileRead(this.input, abs)
    if (body.length === 0) {
      // tar-stream takes an empty buffer as "no body given" and waits for a stream; the slice
      // taken for the read goes back now, since the tar never sees it.
      this.opts.slabs.release(body)
      await this.add(header, Buffer.alloc(0))
      return
    }
    await this.add(header, body)
  }

  /**
   * A file's bytes, asking for one byte more to notice a file that grew since its stat: a read
   * that gets exactly the size, short of that byte, has met the file's end (one read a file where
   * a second, answering nothing, told it before: for 100,000 small files, 100,000 calls fewer).
   */
  private readWhole(abs: string, size: number): Buffer {
    const fd = fsSync.openSync(abs, 'r')
    try {
      const buf = this.opts.slabs.take(size + 1)
      let n = 0
      while (n < buf.length) {
        const got = fsSync.readSync(fd, buf, n, buf.length - n, n)
        if (got === 0) break
        n += got
        if (n === size) break
      }
      return buf.subarray(0, n)
    } finally {
      fsSync.closeSync(fd)
    }
  }

  /** Adds an entry whose body, if any, is given whole; resolves once the pack has taken it. */
  private async add(header: TarHeader, body?: Buffer): Promise<void> {
    this.opts.onHeader(header)
    const { written } = this.openEntry(header, body)
    await written
  }

  /**
   * Starts an entry. Its sink's failures (the pack destroyed under it, a size mismatch) reach the
   * caller through `written`, so its 'error' event is taken here rather than left to crash the run.
   */
  private openEntry(header: TarHeader, body?: Buffer): { sink: EntrySink; written: Promise<void> } {
    let settle!: (err?: Error | null) => void
    const written = new Promise<void>((resolve, reject) => {
      settle = err => (err ? reject(err) : resolve())
    })
    written.catch(() => {})
    const sink = body ? this.pack.entry(header, body, settle) : this.pack.entry(header, settle)
    sink.on('error', () => {})
    return { sink, written }
  }

  /** A file whose bytes its reader reads: PLACEHOLDER in its place, in views of at most 1 MiB. */
  private async placeholderFile(header: TarHeader, abs: string, size: number): Promise<void> {
    this.opts.deferBody!(abs, size)
    if (size <= PLACEHOLDER.length) return this.add(header, PLACEHOLDER.subarray(0, size))
    this.opts.onHeader(header)
    const { sink, written } = this.openEntry(header)
    for (let at = 0; at < size; at += PLACEHOLDER.length) {
      const part = PLACEHOLDER.subarray(0, Math.min(PLACEHOLDER.length, size - at))
      if (!sink.write(part)) await drained(sink)
    }
    sink.end(null)
    await written
  }

  /** A file too large to read whole, streamed into the tar in READ_CHUNK reads, one read ahead. */
  private async streamFile(header: TarHeader, abs: string, size: number): Promise<void> {
    let fh: fs.FileHandle
    try {
      fh = await fs.open(abs, 'r')
    } catch (err) {
      throw fileSystemError(this.input, abs, err)
    }
    try {
      this.opts.onHeader(header)
      const { sink, written } = this.openEntry(header)
      try {
        await this.copyBody(fh, sink, abs, size)
      } catch (err) {
        sink.destroy(err as Error)
        throw err
      }
      sink.end(null)
      await written
    } finally {
      await fh.close()
    }
  }

  /** Exactly `size` bytes of the file into the sink; a file that is shorter or longer fails. */
  private async copyBody(fh: fs.FileHandle, sink: EntrySink, abs: string, size: number) {
    const readAt = (at: number): Promise<Buffer> => {
      const want = Math.min(READ_CHUNK, size - at)
      const buf = this.opts.slabs.take(want)
      const read = fh.read(buf, 0, want, at).then(({ bytesRead }) => buf.subarray(0, bytesRead))
      // A read ahead may be left behind by a failure; its own failure then matters to no one.
      read.catch(() => {})
      return read
    }
    let pos = 0
    // The next read is under way while the last chunk goes into the tar.
    let pending = readAt(0)
    while (pos < size) {
      let chunk: Buffer
      try {
        chunk = await pending
      } catch (err) {
        throw fileSystemError(this.input, abs, err)
      }
      if (chunk.length === 0) throw changedWhileRead(this.input, abs)
      pos += chunk.length
      if (pos < size) pending = readAt(pos)
      if (!sink.write(chunk)) await drained(sink)
    }
    // A file that grew since its stat would be cut short silently.
    let grew: number
    try {
      ;({ bytesRead: grew } = await fh.read(Buffer.alloc(1), 0, 1, size))
    } catch (err) {
      throw fileSystemError(this.input, abs, err)
    }
    if (grew !== 0) throw changedWhileRead(this.input, abs)
  }
}

/** Waits for the sink to take more; fails if it is destroyed instead (the pack failed). */
function drained(sink: EntrySink): Promise<void> {
  if (sink.destroying) return Promise.reject(new Error('the tar entry was destroyed'))
  return new Promise((resolve, reject) => {
    const settle = (err?: Error) => {
      sink.off('drain', onDrain)
      sink.off('close', onClose)
      sink.off('error', onError)
      if (err) reject(err)
      else resolve()
    }
    const onDrain = () => settle()
    const onClose = () => settle(new Error('the tar entry closed before its end'))
    const onError = (err: unknown) => settle(err instanceof Error ? err : new Error(String(err)))
    sink.once('drain', onDrain)
    sink.once('close', onClose)
    sink.once('error', onError)
  })
}
