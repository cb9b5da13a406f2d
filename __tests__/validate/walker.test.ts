/**
 * Cases from a spec review: shared-index fan-out is walked once per node, and inputs that the
 * validator once misjudged (valid ones it flagged, invalid ones it passed) get the right verdict.
 */
import { describe, it, expect } from '@jest/globals'
import { createHash } from 'node:crypto'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import * as zlib from 'node:zlib'
import { validateImage, validateLayout, type Finding } from '../../src/validate/index.js'
import { Layout } from '../../src/transports/layout.js'
import type { BlobReader } from '../../src/oci/blobs.js'
import { writeLayout, tarOf, sha256, DEFAULT_ENTRIES } from '../helpers/validate-fixtures.js'
import { trackedTempDirs } from '../helpers/transports-fixtures.js'

const newDir = trackedTempDirs('lading-validate-')

const rules = (f: Finding[]): string[] => f.map(x => `${x.severity} ${x.rule}`)

describe('shared indexes', () => {
  it('walks a 6-level, 10-way fan-out of one shared index once per node, reporting each finding once', async () => {
    const dir = await newDir()
    await writeLayout(dir, {
      // A warning in the manifest, reached along 10^6 paths, must be reported once.
      manifest: m => void (m.annotations['org.opencontainers.image.unknown'] = 'x')
    })
    const idx = JSON.parse(await fs.readFile(path.join(dir, 'index.json'), 'utf8'))
    let entry = idx.manifests[0]
    for (let level = 0; level < 6; level++) {
      const body = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: Array.from({ length: 10 }, () => entry)
        })
      )
      await fs.writeFile(path.join(dir, 'blobs/sha256', sha256(body).slice(7)), body)
      entry = {
        mediaType: 'application/vnd.oci.image.index.v1+json',
        digest: sha256(body),
        size: body.length
      }
    }
    const inner = new Layout(dir)
    let has = 0
    let opens = 0
    const reader: BlobReader = {
      name: 'counting',
      has: d => {
        has++
        return inner.has(d)
      },
      open: d => {
        opens++
        return inner.open(d)
      },
      read: d => inner.read(d)
    }
    const f = await validateImage(reader, entry)
    // 6 index levels of 10 entries each, plus the manifest's config and layer: ~63 lookups.
    expect(has).toBeLessThan(100)
    expect(opens).toBe(6 + 3)
    expect(rules(f)).toEqual(['warning annotation-reserved-key'])

    await fs.writeFile(path.join(dir, 'index.json'), JSON.stringify({ ...idx, manifests: [entry] }))
    expect(rules((await validateLayout(dir)).findings)).toEqual(['warning annotation-reserved-key'])
  }, 20_000)
})

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

describe('annotations', () => {
  it('accepts the keys conversion.md defines, in annotations and in config Labels', async () => {
    const keys = [
      'os',
      'architecture',
      'variant',
      'os.version',
      'os.features',
      'author',
      'stopSignal',
      'exposedPorts'
    ]
    const a = Object.fromEntries(keys.map(k => [`org.opencontainers.image.${k}`, 'v']))
    const dir = await newDir()
    await writeLayout(dir, {
      manifest: m => void Object.assign(m.annotations, a),
      config: c => void Object.assign(c.config.Labels, a)
    })
    expect((await validateLayout(dir)).findings).toEqual([])
  })
})

describe('layout blobs', () => {
  it('accepts a blob that is a symlink to a regular file', async () => {
    const dir = await newDir()
    const b = await writeLayout(dir)
    const elsewhere = path.join(dir, 'store')
    await fs.mkdir(elsewhere)
    await fs.rename(b.blob(b.layers[0]), path.join(elsewhere, 'layer'))
    await fs.symlink(path.join(elsewhere, 'layer'), b.blob(b.layers[0]))
    expect((await validateLayout(dir)).findings).toEqual([])
  })

  it('names the unreferenced blob file whose content does not match', async () => {
    const dir = await newDir()
    const b = await writeLayout(dir)
    const name = sha256('other')
    await fs.writeFile(b.blob(name), 'not other')
    const f = (await validateLayout(dir)).findings
    expect(f.map(x => [x.rule, x.location])).toEqual([
      ['blob-digest-mismatch', `blobs/sha256/${name.slice(7)}`]
    ])
  })
})
