/**
 * scanBlob: bytes after a layer's compressed stream (which Go's readers reject) and multi-frame
 * zstd (which they accept), fed in awkward chunk sizes so frame ends fall inside chunks; and layer
 * contents the validator once misjudged.
 */
import { afterAll, describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs/promises'
import { Readable } from 'node:stream'
import * as zlib from 'node:zlib'
import { validateLayout } from '../../../src/validate/index.js'
import { scanBlob } from '../../../src/validate/layer/scan.js'
import { DEFAULT_ENTRIES, sha256, tarOf, writeLayout } from '../../helpers/validate-fixtures.js'
import { createHash } from 'node:crypto'
import { type Finding } from '../../../src/validate/index.js'
import { trackedTempDirs } from '../../helpers/transports-fixtures.js'
import { MemoryRelief } from '../../../src/util/memory.js'
import { ScanCache } from '../../../src/oci/scan.js'

const dirs: string[] = []

afterAll(async () => {
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true })
})

function chunked(b: Buffer, size: number): Readable {
  const parts: Buffer[] = []
  for (let i = 0; i < b.length; i += size) parts.push(b.subarray(i, i + size))
  return Readable.from(parts)
}

async function scan(b: Buffer, compression: 'gzip' | 'zstd', size: number) {
  return scanBlob(chunked(b, size), {
    algorithm: 'sha256',
    compression,
    checkTar: true,
    location: 'layer x',
    digest: sha256(b)
  })
}

const skippable = (payload: Buffer): Buffer => {
  const h = Buffer.alloc(8)
  h.writeUInt32LE(0x184d2a5e, 0)
  h.writeUInt32LE(payload.length, 4)
  return Buffer.concat([h, payload])
}

describe('bytes after the compressed stream', () => {
  const sizes = [1, 7, 4096, 1 << 20]

  it.each(sizes)(
    'zstd: two frames and a skippable frame are one valid layer (chunks of %i)',
    async n => {
      const t = await tarOf([...DEFAULT_ENTRIES, { name: 'big', content: 'z'.repeat(300_000) }])
      const cut = 70_000
      const blob = Buffer.concat([
        zlib.zstdCompressSync(t.subarray(0, cut)),
        skippable(Buffer.from('metadata')),
        zlib.zstdCompressSync(t.subarray(cut))
      ])
      const r = await scan(blob, 'zstd', n)
      expect(r.findings).toEqual([])
      expect(r.diffId).toBe(sha256(t))
    }
  )

  it.each(sizes)('gzip: two members then 1024 zeros (chunks of %i)', async n => {
    const t = await tarOf(DEFAULT_ENTRIES)
    const gz = Buffer.concat([zlib.gzipSync(t.subarray(0, 700)), zlib.gzipSync(t.subarray(700))])
    const blob = Buffer.concat([gz, Buffer.alloc(1024)])
    const r = await scan(blob, 'gzip', n)
    expect(r.findings.map(f => f.rule)).toEqual(['layer-compression-trailing'])
    expect(r.findings[0].message).toContain(`${sha256(blob)} has 1024 trailing bytes`)
    expect(r.findings[0].message).toContain(`at byte ${gz.length}`)
    expect(r.diffId).toBe(sha256(t))
    expect((await scan(gz, 'gzip', n)).findings).toEqual([])
  })

  it.each([
    ['5 junk bytes', Buffer.from('hello')],
    ['3 zero bytes (too few for a frame header)', Buffer.alloc(3)],
    ['a truncated skippable-frame magic', Buffer.from([0x5e, 0x2a])]
  ])('zstd: a frame then %s', async (_name, tail) => {
    const t = await tarOf(DEFAULT_ENTRIES)
    const z = Buffer.concat([
      zlib.zstdCompressSync(t.subarray(0, 1000)),
      zlib.zstdCompressSync(t.subarray(1000))
    ])
    for (const n of [5, 1 << 20]) {
      const r = await scan(Buffer.concat([z, tail]), 'zstd', n)
      expect(r.findings.map(f => f.rule)).toEqual(['layer-compression-trailing'])
      expect(r.findings[0].message).toContain(`has ${tail.length} trailing bytes`)
    }
    // When a frame ends exactly at a chunk end, Node's decoder itself reads on into the next
    // chunk and fails: still one error, as layer-decompress.
    const r = await scan(Buffer.concat([z, tail]), 'zstd', 1)
    expect(r.findings).toHaveLength(1)
    expect(r.findings[0].severity).toBe('error')
    expect(['layer-compression-trailing', 'layer-decompress']).toContain(r.findings[0].rule)
  })
})

const newDir = trackedTempDirs('lading-validate-')
const rules = (f: Finding[]): string[] => f.map(x => `${x.severity} ${x.rule}`)

describe('layer content', () => {
  it('accepts zero padding after the end-of-archive marker', async () => {
    const dir = await newDir()
    const t = await tarOf(DEFAULT_ENTRIES)
    await writeLayout(dir, { layers: [{ tar: Buffer.concat([t, Buffer.alloc(10240)]) }] })
    expect((await validateLayout(dir)).findings).toEqual([])
  })

  it('reads a zstd layer that starts with a skippable frame', async () => {
    const dir = await newDir()
    const t = await tarOf(DEFAULT_ENTRIES)
    const payload = Buffer.from('zstd:chunked-like metadata')
    const skip = Buffer.alloc(8)
    skip.writeUInt32LE(0x184d2a5e, 0)
    skip.writeUInt32LE(payload.length, 4)
    const blob = Buffer.concat([skip, payload, zlib.zstdCompressSync(t)])
    await writeLayout(dir, { layers: [{ tar: t, compression: 'zstd', blob }] })
    expect((await validateLayout(dir)).findings).toEqual([])
  })

  it('hashes the uncompressed layer with the algorithm of a sha512 diff_id', async () => {
    const dir = await newDir()
    const t = await tarOf(DEFAULT_ENTRIES)
    const sha512 = 'sha512:' + createHash('sha512').update(t).digest('hex')
    await writeLayout(dir, { config: c => void (c.rootfs.diff_ids[0] = sha512) })
    expect((await validateLayout(dir)).findings).toEqual([])
    const bad = await newDir()
    await writeLayout(bad, {
      config: c => void (c.rootfs.diff_ids[0] = 'sha512:' + 'ab'.repeat(64))
    })
    expect(rules((await validateLayout(bad)).findings)).toEqual(['error config-diff-id-mismatch'])
  })

  it('accepts a write through a symlink that stays inside the root, and aufs-free whiteouts', async () => {
    const dir = await newDir()
    await writeLayout(dir, {
      layers: [
        {
          entries: [
            { name: 'usr/', type: 'directory' },
            { name: 'usr/lib/', type: 'directory' },
            { name: 'lib', type: 'symlink', linkname: 'usr/lib' },
            { name: 'lib/x' },
            { name: 'etc', type: 'symlink', linkname: '/usr/../usr/lib' },
            { name: 'etc/y' },
            { name: 'loop', type: 'symlink', linkname: 'loop' },
            { name: 'loop/z' },
            { name: 'usr/lib/.wh..wh..opq' },
            { name: 'usr/lib/.wh.gone' }
          ]
        }
      ]
    })
    expect((await validateLayout(dir)).findings).toEqual([])
  })
})

describe('memory relief while layers are scanned', () => {
  /** A relief that only counts what it is told of. */
  const counting = () => {
    const told = { bytes: 0 }
    const relief = new MemoryRelief()
    relief.moved = (n: number) => void (told.bytes += n)
    return { relief, told }
  }

  it('is told of the bytes read and of every decompressed byte, gzip or zstd', async () => {
    const tar = await tarOf([{ name: 'big', content: 'x'.repeat(300_000) }])
    for (const c of ['gzip', 'zstd'] as const) {
      const blob = c === 'gzip' ? zlib.gzipSync(tar) : zlib.zstdCompressSync(tar)
      const { relief, told } = counting()
      const r = await scanBlob(chunked(blob, 4096), {
        algorithm: 'sha256',
        compression: c,
        checkTar: true,
        location: 'layer x',
        digest: sha256(blob),
        relief
      })
      expect(r.findings).toEqual([])
      expect(told.bytes).toBe(blob.length + tar.length)
    }
  })

  it("is the run's, through its scan cache, when a layout is validated", async () => {
    const dir = await newDir()
    await writeLayout(dir, { layers: [{ entries: [{ name: 'f', content: 'y'.repeat(100_000) }] }] })
    const { relief, told } = counting()
    const r = await validateLayout(dir, { scans: new ScanCache(undefined, relief) })
    expect(r.findings).toEqual([])
    expect(told.bytes).toBeGreaterThan(100_000)
  })
})
