import { describe, expect, it } from '@jest/globals'
import { Readable } from 'node:stream'
import { digestOf } from '../../src/oci/digest.js'
import { MediaType } from '../../src/oci/mediatypes.js'
import { RegistryClient } from '../../src/registry/client.js'
import { uploadBlob } from '../../src/registry/upload.js'
import { LadingError } from '../../src/util/errors.js'
import {
  config,
  layer,
  layerBytes,
  manifestWith,
  MiB,
  openFake,
  quick,
  serving,
  useFakeRegistries
} from '../helpers/fake-image.js'
import { flood, trickle, type FakeRegistry } from '../helpers/fake-registry.js'

const fake = useFakeRegistries()

describe('deadlines and minimum rates', () => {
  const manifest = manifestWith(config)

  const timed = async <T>(p: Promise<T>) => {
    const start = Date.now()
    const err = await p.catch(e => e)
    return { err, ms: Date.now() - start }
  }

  it('a manifest trickled a byte at a time ends at the deadline', async () => {
    const f = await fake((_req, res) => {
      res.writeHead(200, { 'Content-Type': MediaType.ImageManifest })
      trickle(res, manifest, 50)
    })
    const { err, ms } = await timed(openFake(f, quick))
    expect(err).toBeInstanceOf(LadingError)
    expect(err.message).toContain(`GET manifest ${f.host}/r/a:1`)
    expect(err.message).toContain('within 300 ms')
    expect(ms).toBeLessThan(3000)
  })

  it('a HEAD never answered ends at the deadline', async () => {
    const f = await fake(serving(manifest, () => {}))
    const src = await openFake(f, quick)
    const { err, ms } = await timed(src.has(layer))
    expect(err).toBeInstanceOf(LadingError)
    expect(err.message).toContain(`HEAD blob ${layer.digest} in ${f.host}/r`)
    expect(err.message).toContain('within 300 ms')
    expect(ms).toBeLessThan(3000)
  })

  it('a token server trickling its answer ends at the deadline', async () => {
    let realm = ''
    const f = await fake(
      (req, res) => {
        if (req.url === '/v2/') {
          res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${realm}",service="fake"` })
          return void res.end()
        }
        res.writeHead(200, { 'Content-Type': 'application/json' })
        trickle(res, Buffer.from('{"token":"abcdef"}'), 50)
      },
      { ownV2: true }
    )
    realm = `http://${f.host}/token`
    const { err, ms } = await timed(openFake(f, quick))
    expect(err).toBeInstanceOf(LadingError)
    expect(err.message).toContain(`the token server http://${f.host}/token`)
    expect(err.message).toContain('within 300 ms')
    expect(ms).toBeLessThan(3000)
  })

  it('a blob download below the minimum rate is abandoned', async () => {
    const f = await fake(
      serving(manifest, (_req, res) => {
        res.writeHead(200, { 'Content-Length': layer.size })
        trickle(res, layerBytes, 20)
      })
    )
    const src = await openFake(f, quick)
    const { err, ms } = await timed(src.open(layer).then(s => s.toArray()))
    expect(err).toBeInstanceOf(LadingError)
    expect(err.message).toContain(`GET blob ${layer.digest}`)
    expect(err.message).toContain('below the minimum rate of 1024 KiB/s')
    expect(ms).toBeLessThan(3000)
  })

  it('a download whose reader pauses is not held against the registry', async () => {
    // More than the socket buffers hold, so the registry is made to wait during the pause.
    const size = 32 * MiB
    const big = { mediaType: MediaType.LayerGzip, digest: digestOf('not checked here'), size }
    const f = await fake(
      serving(manifest, (_req, res) => {
        res.writeHead(200, { 'Content-Length': size })
        flood(res, size, { bytes: 0 })
      })
    )
    // A low rate, so a busy machine's own pauses stay above it.
    const limits = { ...quick.limits, minBytesPerSecond: 64 * 1024 }
    const s = await (await openFake(f, { ...quick, limits })).open(big)
    let got = 0
    for await (const chunk of s) {
      // Busy elsewhere for four rate windows, once the download is under way.
      if (got === 0) await new Promise(resolve => setTimeout(resolve, 1200))
      got += (chunk as Buffer).length
    }
    expect(got).toBe(size)
  })

  /** A registry that takes upload sessions and then stops reading what is sent to them. */
  const stalling = () =>
    fake((req, res) => {
      if (req.method === 'POST') {
        res.writeHead(202, { Location: '/v2/r/blobs/uploads/1', 'Content-Length': 0 })
        return void res.end()
      }
      req.pause()
    })

  const upload = async (f: FakeRegistry, chunkSize?: number) => {
    const client = new RegistryClient(f.host, quick)
    const size = 256 * MiB
    const desc = { mediaType: MediaType.LayerGzip, digest: digestOf('never checked'), size }
    const zeros = Buffer.alloc(MiB)
    const open = async () =>
      Readable.from(
        (function* () {
          for (let at = 0; at < size; at += zeros.length) yield zeros
        })()
      )
    return timed(uploadBlob({ client, repository: 'r', scopes: [], chunkSize }, desc, open))
  }

  it('a monolithic upload the registry stops reading is abandoned', async () => {
    const { err, ms } = await upload(await stalling())
    expect(err).toBeInstanceOf(LadingError)
    expect(err.message).toMatch(/^PUT blob sha256:\w+ \(268435456 bytes\) to 127\.0\.0\.1:\d+\/r: /)
    expect(err.message).toContain('below the minimum rate of 1024 KiB/s')
    expect(ms).toBeLessThan(10_000)
  })

  it('a chunk the registry stops reading, or never answers, is abandoned', async () => {
    const { err, ms } = await upload(await stalling(), 32 * MiB)
    expect(err).toBeInstanceOf(LadingError)
    expect(err.message).toMatch(/^PATCH blob sha256:\w+ bytes 0-33554431 to 127\.0\.0\.1:\d+\/r: /)
    expect(err.message).toMatch(/below the minimum rate|within 300 ms of the end of the upload/)
    expect(ms).toBeLessThan(10_000)
  })
})
