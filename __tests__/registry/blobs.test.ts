import { describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { MAX_DOCUMENT_BYTES } from '../../src/oci/limits.js'
import { LadingError } from '../../src/util/errors.js'
import {
  config,
  layer,
  layerBytes,
  manifestWith,
  MiB,
  openFake,
  serving,
  useFakeRegistries
} from '../helpers/fake-image.js'
import { flood, type FakeRegistry } from '../helpers/fake-registry.js'
import { trackedTempDirs } from '../helpers/transports-fixtures.js'

const fake = useFakeRegistries()
const tmp = trackedTempDirs('lading-blobs-')

describe('documents are bounded', () => {
  it('never fetches a config whose descriptor is over the limit, by read or open', async () => {
    const big = { ...config, size: 5 * MiB }
    const f = await fake(serving(manifestWith(big), (_req, res) => res.end()))
    const src = await openFake(f)
    for (const err of [await src.read(big).catch(e => e), await src.open(big).catch(e => e)]) {
      expect(err).toBeInstanceOf(LadingError)
      expect(err.message).toContain(`blob ${big.digest} from ${f.host}/r`)
      expect(err.message).toContain(`${5 * MiB} bytes`)
      expect(err.message).toContain(`${MAX_DOCUMENT_BYTES}-byte limit`)
    }
    expect(f.seen.filter(r => r.url.includes('/blobs/'))).toEqual([])
  })

  it('refuses a config larger than its descriptor, stated or streamed', async () => {
    for (const stated of [true, false]) {
      const f = await fake(
        serving(manifestWith(config), (_req, res) => {
          res.writeHead(200, stated ? { 'Content-Length': 5 * MiB } : {})
          flood(res, 5 * MiB, { bytes: 0 })
        })
      )
      const err = await (await openFake(f)).read(config).catch(e => e)
      expect(err).toBeInstanceOf(LadingError)
      expect(err.message).toContain(`blob ${config.digest} from ${f.host}/r`)
      expect(err.message).toContain(`the ${config.size} bytes its descriptor says`)
      expect(err.message).toContain(
        stated ? `${5 * MiB} bytes (Content-Length)` : 'stopped reading'
      )
    }
  })
})

describe('blob downloads stop at the descriptor size', () => {
  const download = async (f: FakeRegistry) => {
    const src = await openFake(f)
    const file = path.join(await tmp(), 'layer')
    const err = await src
      .open(layer)
      .then(s => pipeline(s, fs.createWriteStream(file)))
      .catch(e => e)
    return { err, written: fs.existsSync(file) ? fs.statSync(file).size : 0 }
  }

  it('fails once a streamed blob passes its size, having passed on no more than it', async () => {
    const sent = { bytes: 0 }
    const f = await fake(
      serving(manifestWith(config), (_req, res) => {
        res.writeHead(200)
        flood(res, 250 * MiB, sent)
      })
    )
    const { err, written } = await download(f)
    expect(err).toBeInstanceOf(LadingError)
    expect(err.message).toContain(`GET blob ${layer.digest} (135 bytes) from ${f.host}/r`)
    expect(err.message).toContain('more than the 135 bytes its descriptor says')
    expect(written).toBeLessThanOrEqual(layer.size)
    expect(sent.bytes).toBeLessThan(40 * MiB)
  })

  it('fails at once when the stated length is not the descriptor size', async () => {
    const f = await fake(
      serving(manifestWith(config), (_req, res) => {
        res.writeHead(200, { 'Content-Length': 250 * MiB })
        flood(res, 250 * MiB, { bytes: 0 })
      })
    )
    const { err, written } = await download(f)
    expect(err).toBeInstanceOf(LadingError)
    expect(err.message).toContain(`${250 * MiB} bytes (Content-Length), not the 135`)
    expect(written).toBe(0)
  })

  it('fails when the registry sends less, whether it ends or breaks off', async () => {
    const ends = await fake(
      serving(manifestWith(config), (_req, res) => {
        res.writeHead(200)
        res.end(layerBytes.subarray(0, 100))
      })
    )
    const short = await download(ends)
    expect(short.err).toBeInstanceOf(LadingError)
    expect(short.err.message).toContain('sent 100 bytes, not the 135 its descriptor says')

    const breaks = await fake(
      serving(manifestWith(config), (_req, res) => {
        res.writeHead(200, { 'Content-Length': 135 })
        res.write(layerBytes.subarray(0, 100), () => setTimeout(() => res.destroy(), 20))
      })
    )
    const broken = await download(breaks)
    expect(broken.err).toBeInstanceOf(LadingError)
    expect(broken.err.message).toContain('broke after 100 of 135 bytes')
  })
})
