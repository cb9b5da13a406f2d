/**
 * Archives for the transport tests, streamed to disk: entries may be large (zero-filled bodies
 * of any size), so a test can make a decompression bomb without holding or writing its bytes.
 */
import { createWriteStream } from 'node:fs'
import { Readable, type Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGzip, createZstdCompress } from 'node:zlib'
import * as tar from 'tar-stream'

export interface ArchiveEntry {
  name: string
  content?: string | Buffer
  /** a body of this many zero bytes instead of `content` */
  zeros?: number
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo'
  linkname?: string
}

function zeros(n: number): Readable {
  const chunk = Buffer.alloc(1024 * 1024)
  let left = n
  return new Readable({
    read() {
      if (left === 0) return void this.push(null)
      const take = Math.min(left, chunk.length)
      left -= take
      this.push(chunk.subarray(0, take))
    }
  })
}

/** Writes `entries` as a tar, compressed as asked, to `file`; returns nothing held in memory. */
export async function writeArchive(
  file: string,
  entries: ArchiveEntry[],
  compression: 'none' | 'gzip' | 'zstd' = 'none'
): Promise<void> {
  const pack = tar.pack()
  const stages: Transform[] =
    compression === 'gzip' ? [createGzip()] : compression === 'zstd' ? [createZstdCompress()] : []
  const written = pipeline([pack, ...stages, createWriteStream(file)] as never)
  for (const e of entries) {
    const type = e.type ?? 'file'
    const header = { name: e.name, type, mode: 0o644, mtime: new Date(0), linkname: e.linkname }
    if (type !== 'file') {
      await new Promise<void>((resolve, reject) =>
        pack.entry(header, err => (err ? reject(err) : resolve()))
      )
      continue
    }
    if (e.zeros !== undefined) {
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry({ ...header, size: e.zeros }, err =>
          err ? reject(err) : resolve()
        )
        zeros(e.zeros!).pipe(sink as never)
      })
    } else {
      await new Promise<void>((resolve, reject) =>
        pack.entry(header, Buffer.from(e.content ?? ''), err => (err ? reject(err) : resolve()))
      )
    }
  }
  pack.finalize()
  await written
}
