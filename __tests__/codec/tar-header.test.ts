/**
 * Tar header fields read as tar-stream reads them (octal and GNU base-256 sizes), and the
 * end-of-archive marker found in tars fed in chunks of any size: cut short, padded, followed by
 * bytes after the marker, or sized by a pax record.
 */
import { describe, it, expect } from '@jest/globals'
import tar from 'tar-stream'
import {
  headerDataSize,
  headerTypeFlag,
  paxSizeRecord,
  TAR_BLOCK,
  TarEndTracker
} from '../../src/codec/tar-header.js'
import { tarOf, DEFAULT_ENTRIES } from '../helpers/validate-fixtures.js'

/** The size and type tar-stream reads from a tar's first header. */
async function tarStreamHeader(t: Buffer): Promise<{ size: number; type: string }> {
  const extract = tar.extract()
  const seen = new Promise<{ size: number; type: string }>((resolve, reject) => {
    extract.on('entry', header => {
      resolve({ size: header.size, type: header.type })
      extract.destroy()
    })
    extract.on('error', reject)
  })
  extract.end(t)
  return seen
}

/** Sets a header block's checksum, as a writer must after changing a field. */
function sealed(block: Buffer): Buffer {
  const h = Buffer.from(block)
  h.fill(0x20, 148, 156)
  let sum = 0
  for (const b of h) sum += b
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1')
  return h
}

/** A header block declaring `size` in GNU base-256: the marker bit, then big-endian bytes. */
function base256Header(template: Buffer, size: bigint): Buffer {
  const h = Buffer.from(template.subarray(0, TAR_BLOCK))
  h.fill(0, 124, 136)
  h[124] = 0x80
  let v = size
  for (let i = 135; i > 124; i--) {
    h[i] = Number(v & 0xffn)
    v >>= 8n
  }
  return sealed(h)
}

interface Tracked {
  archive: Buffer
  endAt: number | undefined
  trailingAt: number | undefined
}

function track(t: Buffer, chunk: number): Tracked {
  const end = new TarEndTracker()
  const kept: Buffer[] = []
  for (let i = 0; i < t.length; i += chunk) kept.push(end.feed(t.subarray(i, i + chunk)))
  return { archive: Buffer.concat(kept), endAt: end.endAt, trailingAt: end.trailingAt }
}

const CHUNKS = [1, 100, TAR_BLOCK - 1, TAR_BLOCK, TAR_BLOCK + 1, 1 << 20]

describe('header fields', () => {
  it('reads an octal size and the type flag as tar-stream does', async () => {
    for (const content of ['', 'x', 'y'.repeat(TAR_BLOCK), 'z'.repeat(70_001)]) {
      const t = await tarOf([{ name: 'f', content }])
      const seen = await tarStreamHeader(t)
      expect(headerDataSize(t)).toBe(seen.size)
      expect(headerDataSize(t)).toBe(Buffer.byteLength(content))
      expect(headerTypeFlag(t)).toBe('0')
    }
    const dir = await tarOf([{ name: 'd', type: 'directory' }])
    expect(headerTypeFlag(dir)).toBe('5')
    expect((await tarStreamHeader(dir)).type).toBe('directory')
  })

  it.each([8n * 1024n ** 3n, 2n ** 40n + 12_345n, 2n ** 52n - 3n])(
    'reads a base-256 size (%s) as tar-stream does',
    async size => {
      const template = await tarOf([{ name: 'big', content: 'x' }])
      const h = base256Header(template, size)
      expect(headerDataSize(h)).toBe(Number(size))
      expect((await tarStreamHeader(h)).size).toBe(headerDataSize(h))
    }
  )

  it('reads the size record of pax data, and nothing from data without one', () => {
    const records = (kv: string): string => {
      const body = ` ${kv}\n`
      let n = body.length + 1
      while (String(n).length + body.length !== n) n++
      return `${n}${body}`
    }
    const size = 123_456_789_012
    expect(paxSizeRecord(records('path=a/b') + records(`size=${size}`))).toBe(size)
    expect(paxSizeRecord(records('path=size=5'))).toBeUndefined()
  })
})

describe('TarEndTracker', () => {
  it.each(CHUNKS)('ends a whole tar at its end-of-archive blocks (chunks of %i)', async n => {
    const t = await tarOf([...DEFAULT_ENTRIES, { name: 'big', content: 'b'.repeat(5000) }])
    const r = track(t, n)
    expect(r.endAt).toBe(t.length)
    expect(r.trailingAt).toBeUndefined()
    expect(r.archive.equals(t)).toBe(true)
  })

  it.each(CHUNKS)('cuts off what follows the marker (chunks of %i)', async n => {
    const t = await tarOf(DEFAULT_ENTRIES)
    const after = await tarOf([{ name: 'hidden', content: 'after the end' }])
    const padding = Buffer.alloc(3 * TAR_BLOCK + 7)
    const r = track(Buffer.concat([t, padding, after]), n)
    expect(r.endAt).toBe(t.length)
    expect(r.trailingAt).toBe(t.length + padding.length)
    expect(r.archive.equals(t)).toBe(true)
  })

  it.each(CHUNKS)('finds no end in a tar cut inside a header (chunks of %i)', async n => {
    const t = await tarOf([
      { name: 'a', content: 'a' },
      { name: 'b', content: 'b' }
    ])
    // Inside the second header: one header and one data block come first.
    const cut = t.subarray(0, 2 * TAR_BLOCK + 100)
    const r = track(cut, n)
    expect(r.endAt).toBeUndefined()
    expect(r.trailingAt).toBeUndefined()
    expect(r.archive.equals(cut)).toBe(true)
  })

  it('finds no end after a single zero block', async () => {
    const t = await tarOf([{ name: 'a', content: 'a' }])
    const oneZero = t.subarray(0, t.length - TAR_BLOCK)
    expect(track(oneZero, 1).endAt).toBeUndefined()
    expect(track(t, 1).endAt).toBe(t.length)
  })

  it.each(CHUNKS)('skips data of the size a pax record gives (chunks of %i)', async n => {
    // Zero data blocks that, were the pax size ignored, would read as the end-of-archive marker.
    const size = 3 * TAR_BLOCK
    const pack = tar.pack()
    const parts: Buffer[] = []
    pack.on('data', (b: unknown) => void parts.push(b as Buffer))
    const ended = new Promise<void>(resolve => pack.on('end', () => resolve()))
    pack.entry({ name: 'zeros', size, pax: { size: String(size) } }, Buffer.alloc(size))
    pack.finalize()
    await ended
    const t = Buffer.concat(parts)
    expect(headerTypeFlag(t)).toBe('x')
    // The ustar size is what a reader without pax would skip; zero it so only pax tells the size.
    const paxLen = TAR_BLOCK + Math.ceil(headerDataSize(t) / TAR_BLOCK) * TAR_BLOCK
    const file = Buffer.from(t.subarray(paxLen, paxLen + TAR_BLOCK))
    file.write('00000000000\0', 124, 'latin1')
    const patched = Buffer.concat([
      t.subarray(0, paxLen),
      sealed(file),
      t.subarray(paxLen + TAR_BLOCK)
    ])
    expect((await tarStreamHeader(patched.subarray(paxLen))).size).toBe(0)
    const withTrailing = Buffer.concat([patched, Buffer.from('trailing')])
    const r = track(withTrailing, n)
    expect(r.endAt).toBe(patched.length)
    expect(r.trailingAt).toBe(patched.length)
  })
})
