/** The validator's walk: a shared-index fan-out is walked once per node, each finding reported once. */
import { describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import type { BlobReader } from '../../src/oci/blobs.js'
import { Layout } from '../../src/transports/layout.js'
import { validateImage, validateLayout, type Finding } from '../../src/validate/index.js'
import { trackedTempDirs } from '../helpers/transports-fixtures.js'
import { sha256, writeLayout } from '../helpers/validate-fixtures.js'

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
