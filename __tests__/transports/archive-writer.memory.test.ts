import { describe, it, expect, afterAll } from '@jest/globals'
import { createHash, randomFillSync } from 'node:crypto'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { writeOciArchive } from '../../src/transports/archive-writer.js'
import { openOciArchive } from '../../src/transports/oci-archive.js'
import { sha256, tempDir } from '../helpers/transports-fixtures.js'

const MiB = 1024 * 1024
/**
 * Measured here: streaming any layer size leaves a plateau of 35-50 MiB of not yet collected
 * chunks, so a 50 MiB layer could not tell streaming from buffering. With 128 MiB, buffering
 * would grow by at least 128 MiB, and the bound below still leaves room for the collector.
 */
const LAYER_MIB = 128
const BOUND_MIB = 96
const dirs: string[] = []
afterAll(async () => {
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true })
})

/** Runs `work` while sampling the resident set size; returns the peak growth over the start. */
async function peakRssGrowth(work: () => Promise<void>): Promise<number> {
  const start = process.memoryUsage().rss
  let peak = start
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss)
  }, 2)
  try {
    await work()
  } finally {
    clearInterval(timer)
  }
  peak = Math.max(peak, process.memoryUsage().rss)
  return peak - start
}

describe('large layers', () => {
  it('archives and opens a 128 MiB layer without holding it in memory', async () => {
    const base = await tempDir()
    dirs.push(base)
    const lay = path.join(base, 'lay')
    await fs.mkdir(path.join(lay, 'blobs', 'sha256'), { recursive: true })
    // Random bytes: incompressible, so gzip or any buffering would show in memory.
    const tmpLayer = path.join(lay, 'layer')
    const h = createHash('sha256')
    const fh = await fs.open(tmpLayer, 'w')
    // One buffer refilled: the setup itself leaves no garbage for the measurement to see.
    const chunk = Buffer.alloc(MiB)
    for (let i = 0; i < LAYER_MIB; i++) {
      randomFillSync(chunk)
      h.update(chunk)
      await fh.write(chunk)
    }
    await fh.close()
    const layerDigest = 'sha256:' + h.digest('hex')
    await fs.rename(tmpLayer, path.join(lay, 'blobs', 'sha256', layerDigest.slice(7)))
    const put = async (b: Buffer) => {
      await fs.writeFile(path.join(lay, 'blobs', 'sha256', sha256(b).slice(7)), b)
      return { digest: sha256(b), size: b.length }
    }
    const config = await put(
      Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          rootfs: { type: 'layers', diff_ids: [layerDigest] }
        })
      )
    )
    const manifest = await put(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
          layers: [
            {
              mediaType: 'application/vnd.oci.image.layer.v1.tar',
              digest: layerDigest,
              size: LAYER_MIB * MiB
            }
          ]
        })
      )
    )
    await fs.writeFile(path.join(lay, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
    await fs.writeFile(
      path.join(lay, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest }]
      })
    )

    const archive = path.join(base, 'big.tar')
    const writeGrowth = await peakRssGrowth(() => writeOciArchive(lay, archive))
    expect((await fs.stat(archive)).size).toBeGreaterThan(LAYER_MIB * MiB)

    let streamedDigest = ''
    const readGrowth = await peakRssGrowth(async () => {
      const src = await openOciArchive(archive)
      const layer = {
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        digest: layerDigest,
        size: LAYER_MIB * MiB
      }
      const hh = createHash('sha256')
      for await (const c of await src.open(layer)) hh.update(c as Buffer)
      streamedDigest = 'sha256:' + hh.digest('hex')
      await src.close()
    })
    expect(streamedDigest).toBe(layerDigest)
    console.log(
      `RSS growth: write ${(writeGrowth / MiB).toFixed(1)} MiB, open+read ${(readGrowth / MiB).toFixed(1)} MiB`
    )
    expect(writeGrowth).toBeLessThan(BOUND_MIB * MiB)
    expect(readGrowth).toBeLessThan(BOUND_MIB * MiB)
  })
})
