/**
 * What cannot be checked is an error: a document over MAX_DOCUMENT_BYTES (never read past it), an
 * index nested deeper than the walk goes, a blob that cannot be read. Each hostile input is made
 * here; each must fail validation, `lading validate`, and a build from it, which writes nothing.
 */
import { describe, it, expect } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { Readable } from 'node:stream'
import { validateLayout, validateImage, type Finding } from '../../src/validate/index.js'
import { MAX_DOCUMENT_BYTES } from '../../src/oci/limits.js'
import { MAX_INDEX_DEPTH } from '../../src/oci/graph.js'
import { MAX_JSON_DEPTH } from '../../src/oci/json.js'
import type { BlobReader } from '../../src/oci/blobs.js'
import { Layout } from '../../src/transports/layout.js'
import type { Descriptor } from '../../src/oci/types.js'
import { writeLayout, sha256, type ImageSpec } from '../helpers/validate-fixtures.js'
import { trackedTempDirs } from '../helpers/transports-fixtures.js'
import { cli } from '../helpers/cli.js'

const newDir = trackedTempDirs('lading-limits-')

/** Whitespace past the limit: valid JSON that a reader of the whole would parse and check. */
const pad = (b: Buffer): Buffer => Buffer.concat([b, Buffer.alloc(MAX_DOCUMENT_BYTES + 1, 0x20)])

const EVIL_LAYER: ImageSpec['layers'] = [{ entries: [{ name: '../../../../etc/cron.d/evil' }] }]

/** A manifest padded past the limit whose layer escapes the root. */
const paddedManifest: ImageSpec = { layers: EVIL_LAYER, manifestBytes: pad }

/** A config padded past the limit with a wrong diff_ids count and an Env that is not a list. */
const paddedConfig: ImageSpec = {
  config: c => {
    c.rootfs.diff_ids.push(sha256('another'))
    c.config.Env = 'not-a-list'
  },
  configBytes: pad
}

/** A document with a member `x` that makes it nest `depth` levels deep in all. */
const nestedTo =
  (depth: number) =>
  (b: Buffer): Buffer =>
    Buffer.from(
      `{"x":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)},${b.toString('utf8').slice(1)}`
    )

/** A manifest 10,000 deep, whose layer escapes the root. */
const deepManifest: ImageSpec = { layers: EVIL_LAYER, manifestBytes: nestedTo(10_000) }

/** A config 10,000 deep, with a wrong diff_ids count and an Env that is not a list. */
const deepConfig: ImageSpec = { ...paddedConfig, configBytes: nestedTo(10_000) }

const errors = (fs: Finding[], rule: string): Finding[] =>
  fs.filter(f => f.rule === rule && f.severity === 'error')

describe('documents over MAX_DOCUMENT_BYTES', () => {
  it('fails a padded manifest whose layer escapes the root', async () => {
    const b = await writeLayout(await newDir(), paddedManifest)
    const r = await validateLayout(b.dir)
    expect(r.valid).toBe(false)
    const [f] = errors(r.findings, 'json-too-large')
    expect(f.location).toContain('index.json manifests[0]')
    expect(f.message).toContain(b.manifest)
    expect(f.message).toMatch(
      /declares \d+ bytes, so it was not read.*digest could not be verified/
    )
    // Not parsed, so not a digest or size mismatch: nothing is said of what was not read.
    expect(r.findings.filter(x => x.rule.startsWith('blob-'))).toEqual([])
  })

  it('fails a padded config with a wrong diff_ids count and an Env that is not a list', async () => {
    const b = await writeLayout(await newDir(), paddedConfig)
    const r = await validateLayout(b.dir)
    expect(r.valid).toBe(false)
    const [f] = errors(r.findings, 'json-too-large')
    expect(f.location).toMatch(/\(manifest\) config$/)
    expect(f.message).toContain(b.config)
  })

  it('refuses unread a document whose descriptor declares more than the limit', async () => {
    const b = await writeLayout(await newDir(), {
      entry: d => ({ ...d, size: MAX_DOCUMENT_BYTES + 1 })
    })
    const r = await validateLayout(b.dir)
    expect(r.valid).toBe(false)
    expect(errors(r.findings, 'json-too-large')[0].message).toMatch(
      /declares 4194305 bytes, so it was not read/
    )
  })

  it('fails an index.json over the limit without reading it whole', async () => {
    const b = await writeLayout(await newDir())
    const file = path.join(b.dir, 'index.json')
    await fs.writeFile(file, pad(await fs.readFile(file)))
    const r = await validateLayout(b.dir)
    expect(r.valid).toBe(false)
    expect(errors(r.findings, 'json-too-large')[0].location).toBe('index.json')
  })

  it('never reads a document past the limit', async () => {
    const b = await writeLayout(await newDir(), paddedManifest)
    // A megabyte more than the padding, so that reading the whole would show in the count.
    const bytes = Buffer.concat([
      await fs.readFile(b.blob(b.manifest)),
      Buffer.alloc(1 << 20, 0x20)
    ])
    let pulled = 0
    const CHUNK = 64 * 1024
    const reader: BlobReader = {
      name: 'counting',
      has: async () => true,
      read: async () => bytes,
      // Hands out chunks only as they are asked for, counting them.
      open: async () =>
        Readable.from(
          (function* () {
            for (let at = 0; at < bytes.length; at += CHUNK) {
              pulled += Math.min(CHUNK, bytes.length - at)
              yield bytes.subarray(at, at + CHUNK)
            }
          })()
        )
    }
    const root: Descriptor = {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: b.manifest,
      size: 200
    }
    const findings = await validateImage(reader, root)
    const [f] = errors(findings, 'json-too-large')
    expect(f.message).toMatch(
      /declares 200 bytes but it holds more; reading stopped at byte 4194305/
    )
    expect(pulled).toBeLessThanOrEqual(MAX_DOCUMENT_BYTES + CHUNK)
  })
})

describe(`documents nested deeper than ${MAX_JSON_DEPTH}`, () => {
  it('fails a manifest 10,000 deep whose layer escapes the root, naming it', async () => {
    const b = await writeLayout(await newDir(), deepManifest)
    const r = await validateLayout(b.dir)
    expect(r.valid).toBe(false)
    expect(r.findings.map(f => [f.rule, f.location])).toEqual([
      ['json-too-deep', `blobs/sha256/${b.manifest.slice(7, 19)}… (manifest)`]
    ])
    expect(r.findings[0].message).toMatch(
      /^nests arrays and objects 10000 levels deep, more than the 64 \(MAX_JSON_DEPTH\)/
    )
  })

  it('fails a config 10,000 deep, and says nothing of what was not read', async () => {
    const b = await writeLayout(await newDir(), deepConfig)
    const r = await validateLayout(b.dir)
    expect(r.findings.map(f => f.rule)).toEqual(['json-too-deep'])
    expect(r.findings[0].location).toMatch(/\(config\)$/)
  })

  it('walks and checks a manifest nested exactly as deep as the limit', async () => {
    const b = await writeLayout(await newDir(), {
      layers: EVIL_LAYER,
      manifestBytes: nestedTo(MAX_JSON_DEPTH)
    })
    const r = await validateLayout(b.dir)
    expect(r.findings.map(f => f.rule)).toEqual(['layer-path-escapes'])
  })
})

describe('what cannot be checked', () => {
  it(`fails indexes nested deeper than ${MAX_INDEX_DEPTH}`, async () => {
    const b = await writeLayout(await newDir(), { nest: MAX_INDEX_DEPTH + 2, layers: EVIL_LAYER })
    const r = await validateLayout(b.dir)
    expect(r.valid).toBe(false)
    expect(errors(r.findings, 'index-depth')[0].message).toMatch(/nothing below it was checked/)
  })

  it('walks and checks indexes nested exactly as deep as the limit', async () => {
    const b = await writeLayout(await newDir(), { nest: MAX_INDEX_DEPTH, layers: EVIL_LAYER })
    const r = await validateLayout(b.dir)
    expect(r.findings.map(f => f.rule)).toEqual(['layer-path-escapes'])
  })

  it('fails a layer that cannot be read to its end, or opened', async () => {
    const b = await writeLayout(await newDir())
    const layout = new Layout(b.dir)
    const root: Descriptor = {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: b.manifest,
      size: (await fs.stat(b.blob(b.manifest))).size
    }
    for (const fault of ['midway', 'open'] as const) {
      const reader: BlobReader = {
        name: 'faulty',
        has: d => layout.has(d),
        read: d => layout.read(d),
        open: async d => {
          if (d.digest !== b.layers[0]) return layout.open(d)
          if (fault === 'open') throw new Error('the disk is gone')
          const bytes = await fs.readFile(b.blob(d.digest))
          return Readable.from(
            (async function* () {
              yield bytes.subarray(0, 10)
              throw new Error('the disk is gone')
            })()
          )
        }
      }
      const findings = await validateImage(reader, root)
      const [f] = errors(findings, 'blob-unreadable')
      expect(f.message).toMatch(/the disk is gone/)
    }
  })
})

describe('the gate from the command line', () => {
  const cases: Array<[string, ImageSpec]> = [
    ['a padded manifest whose layer escapes', paddedManifest],
    ['a padded config with wrong fields', paddedConfig],
    ['indexes nested too deep', { nest: MAX_INDEX_DEPTH + 2, layers: EVIL_LAYER }],
    ['a manifest nested 10,000 deep', deepManifest],
    ['a config nested 10,000 deep', deepConfig]
  ]

  it.each(cases)('lading validate fails %s', async (_, spec) => {
    const b = await writeLayout(await newDir(), spec)
    const r = await cli(['validate', `oci:${b.dir}`])
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/^invalid: \d+ errors?/m)
  })

  it.each(cases)('lading build --from fails %s and writes nothing', async (_, spec) => {
    const b = await writeLayout(await newDir(), spec)
    const out = path.join(await newDir(), 'out')
    const archive = path.join(path.dirname(out), 'out.tar')
    const r = await cli(['build', '--from', `oci:${b.dir}`, '--output', out, '--archive', archive])
    expect(r.code).toBe(1)
    expect(r.err).not.toMatch(/internal error/i)
    await expect(fs.stat(out)).rejects.toThrow(/ENOENT/)
    await expect(fs.stat(archive)).rejects.toThrow(/ENOENT/)
  })
})
