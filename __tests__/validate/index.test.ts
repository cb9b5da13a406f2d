/**
 * validateImage over a BlobReader: every blob is opened once however often it is referenced, is
 * never buffered through read(), and locations carry the caller's prefix; dedupeFindings over two
 * validations of the same broken layout.
 */
import { describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import type { BlobReader } from '../../src/oci/blobs.js'
import type { Descriptor } from '../../src/oci/types.js'
import { Layout } from '../../src/transports/layout.js'
import { validateImage, validateLayout } from '../../src/validate/index.js'
import { trackedTempDirs } from '../helpers/transports-fixtures.js'
import { sha256, writeLayout } from '../helpers/validate-fixtures.js'
import * as zlib from 'node:zlib'
import { dedupeFindings, finding } from '../../src/validate/index.js'
import { DEFAULT_ENTRIES, tarOf } from '../helpers/validate-fixtures.js'

const newDir = trackedTempDirs('lading-validate-')

class CountingReader implements BlobReader {
  readonly name = 'counting'
  readonly opens = new Map<string, number>()
  reads = 0
  constructor(private readonly inner: Layout) {}
  has(d: Descriptor): Promise<boolean> {
    return this.inner.has(d)
  }
  open(d: Descriptor) {
    this.opens.set(d.digest, (this.opens.get(d.digest) ?? 0) + 1)
    return this.inner.open(d)
  }
  read(d: Descriptor): Promise<Buffer> {
    this.reads++
    return this.inner.read(d)
  }
}

describe('validateImage', () => {
  it('opens each blob exactly once when an index references shared blobs twice', async () => {
    const dir = await newDir()
    const b = await writeLayout(dir, { layers: [{}, {}] }) // two identical layers
    const entry = JSON.parse(await fs.readFile(path.join(dir, 'index.json'), 'utf8')).manifests[0]
    const manifest = JSON.parse(await fs.readFile(b.blob(b.manifest), 'utf8'))
    manifest.annotations = { 'org.opencontainers.image.title': 'second' }
    const second = Buffer.from(JSON.stringify(manifest))
    await fs.writeFile(b.blob(sha256(second)), second)
    const nested = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [entry, { ...entry, digest: sha256(second), size: second.length }, entry]
      })
    )
    await fs.writeFile(b.blob(sha256(nested)), nested)
    const root: Descriptor = {
      mediaType: 'application/vnd.oci.image.index.v1+json',
      digest: sha256(nested),
      size: nested.length
    }
    const reader = new CountingReader(new Layout(dir))
    const findings = await validateImage(reader, root, { location: 'ghcr.io/o/r:1' })
    expect(findings).toEqual([])
    expect(reader.reads).toBe(0)
    expect([...reader.opens.keys()].sort()).toEqual(
      [root.digest, b.manifest, sha256(second), b.config, b.layers[0]].sort()
    )
    expect([...reader.opens.values()].every(n => n === 1)).toBe(true)
  })

  it('with checkLayers false, never opens a layer: it only asks whether it exists', async () => {
    const dir = await newDir()
    const b = await writeLayout(dir, { layers: [{}] })
    const entry = JSON.parse(await fs.readFile(path.join(dir, 'index.json'), 'utf8')).manifests[0]
    const reader = new CountingReader(new Layout(dir))
    expect(await validateImage(reader, entry, { checkLayers: false })).toEqual([])
    expect(reader.opens.has(b.layers[0])).toBe(false)
    expect(reader.opens.has(b.config)).toBe(true)
    // a missing layer is still reported
    await fs.rm(b.blob(b.layers[0]))
    const missing = await validateImage(new CountingReader(new Layout(dir)), entry, {
      checkLayers: false
    })
    expect(missing.map(f => f.rule)).toEqual(['blob-missing'])
  })

  it('prefixes locations and reports blobs it was told were not downloaded', async () => {
    const dir = await newDir()
    const b = await writeLayout(dir)
    await fs.rm(b.blob(b.layers[0]))
    const entry = JSON.parse(await fs.readFile(path.join(dir, 'index.json'), 'utf8')).manifests[0]
    const findings = await validateImage(new Layout(dir), entry, {
      location: 'ghcr.io/o/r:1',
      notDownloaded: new Set([b.layers[0]])
    })
    expect(findings.map(f => [f.rule, f.severity])).toEqual([['blob-not-downloaded', 'info']])
    expect(findings[0].location).toMatch(
      /^ghcr\.io\/o\/r:1 sha256:[0-9a-f]{12}… \(manifest\) layers\[0\]$/
    )
  })

  it('reports a nonexistent directory instead of throwing', async () => {
    const parent = await newDir()
    const r = await validateLayout(path.join(parent, 'nope'))
    expect(r.valid).toBe(false)
    expect(r.findings.map(f => f.rule).sort()).toEqual([
      'layout-blobs-dir',
      'layout-index-json',
      'layout-oci-layout'
    ])
  })
})

describe('info findings', () => {
  it('never fail a report, even at fail-on warning', async () => {
    const { makeReport } = await import('../../src/validate/index.js')
    const info = {
      rule: 'blob-not-downloaded',
      severity: 'info' as const,
      message: 'm',
      location: 'l',
      spec: 's'
    }
    expect(makeReport([info], 'warning')).toMatchObject({ valid: true, errors: 0, warnings: 0 })
    const warn = { ...info, rule: 'x', severity: 'warning' as const }
    expect(makeReport([info, warn], 'warning')).toMatchObject({
      valid: false,
      errors: 0,
      warnings: 1
    })
    expect(makeReport([info, warn], 'error')).toMatchObject({ valid: true, warnings: 1 })
  })
})

describe('dedupeFindings', () => {
  it('keeps the source finding when the output repeats a base-layer problem', async () => {
    const dir = await newDir()
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
})
