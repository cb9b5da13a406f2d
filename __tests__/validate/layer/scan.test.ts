/**
 * Bytes after a layer's compressed stream (which Go's readers reject) and multi-frame zstd (which
 * they accept), fed in awkward chunk sizes so frame ends fall inside chunks; and dedupeFindings
 * over two validations of the same broken layout.
 */
import { describe, it, expect, afterAll } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as zlib from 'node:zlib'
import { Readable } from 'node:stream'
import { scanBlob } from '../../../src/validate/layer/scan.js'
import { Layout } from '../../../src/transports/layout.js'
import { dedupeFindings, finding, validateImage, validateLayout } from '../../../src/validate/index.js'
import type { Descriptor } from '../../../src/oci/types.js'
import { writeLayout, tarOf, tmpDir, sha256, DEFAULT_ENTRIES } from '../../helpers/validate-fixtures.js'

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

describe('dedupeFindings', () => {
  it('keeps the source finding when the output repeats a base-layer problem', async () => {
    const dir = await tmpDir()
    dirs.push(dir)
    const t = await tarOf(DEFAULT_ENTRIES)
    const blob = Buffer.concat([zlib.gzipSync(t), Buffer.alloc(1024)])
    const b = await writeLayout(dir, {
      layers: [{ tar: t, blob }],
      manifest: m => void (m.config.size += 1)
    })
    const idx = JSON.parse(await fs.readFile(`${dir}/index.json`, 'utf8'))
    const root = idx.manifests[0] as Descriptor
    const reader = new Layout(dir)
    const source = await validateImage(reader, root, { location: 'oci:src' })
    const output = await validateImage(reader, root, { location: 'oci:out' })
    expect(source.map(f => f.rule).sort()).toEqual([
      'blob-size-mismatch',
      'layer-compression-trailing'
    ])
    expect(output.map(f => f.location)).not.toEqual(source.map(f => f.location))
    expect(dedupeFindings([...source, ...output])).toEqual(source)
    // a problem only the output has survives
    const extra = finding('blob-missing-required', 'oci:out x', `blob ${b.config} is gone`)
    expect(dedupeFindings([...source, ...output, extra])).toEqual([...source, extra])
    // whole-layout validation finds the same problems once each
    expect(dedupeFindings((await validateLayout(dir)).findings)).toHaveLength(2)
  })

  it('without a digest, dedupes on location and message; a source digest in the location is not used', () => {
    const loc = 'reg/x@sha256:' + 'a'.repeat(64) + ' sha256:0123… (manifest)'
    const a = finding('descriptor-urls-scheme', `${loc} layers[0]`, 'urls[0] is ftp')
    const b = finding('descriptor-urls-scheme', `${loc} layers[1]`, 'urls[0] is ftp')
    expect(dedupeFindings([a, b, a, { ...a }])).toEqual([a, b])
    const c = finding('json-invalid', 'x', `blob ${'sha512:' + 'b'.repeat(128)} broke`)
    const d = finding('json-invalid', 'y', `blob ${'sha512:' + 'b'.repeat(128)} broke again`)
    expect(dedupeFindings([c, d])).toEqual([c])
  })

  it('finding takes severity and spec from the catalogue and rejects unknown rules', () => {
    expect(finding('source-unreadable', 'oci:/nope', 'no such directory')).toEqual({
      rule: 'source-unreadable',
      severity: 'error',
      location: 'oci:/nope',
      message: 'no such directory',
      spec: 'https://github.com/opencontainers/image-spec/blob/v1.1.1/image-layout.md'
    })
    expect(() => finding('no-such-rule', 'x', 'y')).toThrow(/unknown validation rule/)
  })
})
