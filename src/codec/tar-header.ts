/**
 * Tar's block structure, read alongside a tar parser: the fields of 512-byte header blocks that
 * decide where the next header starts, and where the archive ends.
 */

export const TAR_BLOCK = 512

/** pax data read for its `size` record at most: a larger extended header is a hostile one. */
const MAX_PAX_READ = 1024 * 1024

/** The data size a header block declares, octal or base-256 (GNU), as tar-stream reads it. */
export function headerDataSize(block: Buffer): number {
  if (block[124] & 0x80) {
    let n = 0
    for (let i = 125; i < 136; i++) n = n * 256 + block[i]
    return n
  }
  const text = block
    .toString('latin1', 124, 136)
    .replace(/[\0 ]+$/g, '')
    .trim()
  const n = parseInt(text || '0', 8)
  return Number.isFinite(n) ? n : 0
}

/** A header block's type flag: '0' a file, '5' a directory, 'x' a pax header, and so on. */
export function headerTypeFlag(block: Buffer): string {
  return String.fromCharCode(block[156])
}

/** The `size` record of pax extended header data, which overrides the next header's size. */
export function paxSizeRecord(records: string): number | undefined {
  const m = /(?:^|\n)\d+ size=(\d+)\n/.exec(records)
  return m ? parseInt(m[1], 10) : undefined
}

/**
 * Follows a tar's block structure, fed the archive in chunks of any size, to find the
 * end-of-archive marker (two zero header blocks), where Go's archive/tar and GNU tar stop
 * reading. tar-stream skips zero blocks and reads on, so a reader that must stop where they do
 * needs this. Sizes are taken as tar-stream takes them (pax `size` overrides the header).
 */
export class TarEndTracker {
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
        i += this.skipData(d, i)
        continue
      }
      const n = Math.min(TAR_BLOCK - this.headerLen, d.length - i)
      this.header.push(d.subarray(i, i + n))
      this.headerLen += n
      i += n
      if (this.headerLen === TAR_BLOCK) this.block(Buffer.concat(this.header), this.pos + i)
    }
    const start = this.pos
    this.pos += d.length
    if (this.endAt === undefined) return d
    const cut = this.endAt - start
    this.after(d.subarray(cut), this.endAt)
    return d.subarray(0, cut)
  }

  /** Skips entry data from `d` at `i`, keeping what a pax header holds; returns bytes skipped. */
  private skipData(d: Buffer, i: number): number {
    const n = Math.min(this.skip, d.length - i)
    if (this.pax && this.paxLeft > 0) {
      const m = Math.min(n, this.paxLeft)
      this.pax.push(d.subarray(i, i + m))
      this.paxLeft -= m
    }
    this.skip -= n
    if (this.skip === 0 && this.pax) this.endPax()
    return n
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
    const type = headerTypeFlag(h)
    let size = headerDataSize(h)
    if (type === 'x') {
      this.pax = []
      this.paxLeft = Math.min(size, MAX_PAX_READ)
    } else if (type !== 'g' && type !== 'L' && type !== 'K') {
      if (this.paxSize !== undefined) size = this.paxSize
      this.paxSize = undefined
      if (type === '5') size = 0
    }
    this.skip = Math.ceil(size / TAR_BLOCK) * TAR_BLOCK
    if (this.skip === 0 && this.pax) this.endPax()
  }

  private endPax(): void {
    const records = Buffer.concat(this.pax ?? []).toString('utf8')
    this.pax = undefined
    const size = paxSizeRecord(records)
    if (size !== undefined) this.paxSize = size
  }
}
