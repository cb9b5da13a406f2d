import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { digestOf } from '../../src/oci/digest.js'
import { MAX_DOCUMENT_BYTES } from '../../src/oci/limits.js'
import { MediaType } from '../../src/oci/mediatypes.js'
import { parseReference } from '../../src/oci/reference.js'
import type { Descriptor } from '../../src/oci/types.js'
import { LadingError } from '../../src/util/errors.js'
import { Authenticator } from '../../src/registry/auth.js'
import { RegistryClient, type ClientOptions } from '../../src/registry/client.js'
import { RegistrySource } from '../../src/registry/source.js'
import { uploadBlob } from '../../src/registry/upload.js'
import {
  flood,
  startFakeRegistry,
  trickle,
  type FakeHandler,
  type FakeRegistry
} from '../helpers/fake-registry.js'

const MiB = 1024 * 1024
const once = { attempts: 1, baseDelayMs: 10, maxDelayMs: 10, maxElapsedMs: 1000 }
// Small limits, so each test's hostile registry is caught in well under a second.
const quick: ClientOptions = {
  retry: once,
  limits: { deadlineMs: 300, minBytesPerSecond: 1024 * 1024, rateWindowMs: 300 }
}

let tmp: string
const savedDockerConfig = process.env.DOCKER_CONFIG
const fakes: FakeRegistry[] = []

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lading-registry-limits-'))
  // No docker config of the machine running the tests may answer for these registries.
  process.env.DOCKER_CONFIG = path.join(tmp, 'no-docker-config')
})
afterEach(async () => {
  await Promise.all(fakes.splice(0).map(f => f.stop()))
})
afterAll(() => {
  if (savedDockerConfig === undefined) delete process.env.DOCKER_CONFIG
  else process.env.DOCKER_CONFIG = savedDockerConfig
  fs.rmSync(tmp, { recursive: true, force: true })
})

async function fake(handle: FakeHandler, opts?: { ownV2?: boolean }): Promise<FakeRegistry> {
  const f = await startFakeRegistry(handle, opts)
  fakes.push(f)
  return f
}

function descriptor(mediaType: string, data: Buffer | string): Descriptor {
  return { mediaType, digest: digestOf(data), size: Buffer.byteLength(data) }
}

const layerBytes = Buffer.alloc(135, 7)
const layer = descriptor(MediaType.LayerGzip, layerBytes)
const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux' }))
const config = descriptor(MediaType.ImageConfig, configBytes)

function manifestWith(cfg: Descriptor): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ImageManifest,
      config: cfg,
      layers: [layer]
    })
  )
}

/** Answers the manifest of tag 1; `blob` answers everything else. */
function serving(manifest: Buffer, blob: FakeHandler): FakeHandler {
  return (req, res) => {
    if (req.url?.includes('/manifests/')) {
      res.writeHead(200, { 'Content-Type': MediaType.ImageManifest })
      return void res.end(manifest)
    }
    blob(req, res)
  }
}

const openFake = (f: FakeRegistry, opts: ClientOptions = { retry: once }) =>
  RegistrySource.open(parseReference(`${f.host}/r/a:1`), opts)

describe('documents are bounded', () => {
  it('refuses a manifest whose Content-Length is over MAX_DOCUMENT_BYTES', async () => {
    const sent = { bytes: 0 }
    const f = await fake((_req, res) => {
      res.writeHead(200, { 'Content-Type': MediaType.ImageManifest, 'Content-Length': 5 * MiB })
      flood(res, 5 * MiB, sent)
    })
    const err = await openFake(f).catch(e => e)
    expect(err).toBeInstanceOf(LadingError)
    expect(err.message).toContain(`GET manifest ${f.host}/r/a:1`)
    expect(err.message).toContain(`${5 * MiB} bytes (Content-Length)`)
    expect(err.message).toContain(`${MAX_DOCUMENT_BYTES}-byte limit`)
  })

  it('stops reading a streamed manifest as soon as it passes MAX_DOCUMENT_BYTES', async () => {
    const sent = { bytes: 0 }
    const f = await fake((_req, res) => {
      res.writeHead(200, { 'Content-Type': MediaType.ImageManifest })
      flood(res, 200 * MiB, sent)
    })
    const err = await openFake(f).catch(e => e)
    expect(err).toBeInstanceOf(LadingError)
    const seen = Number(/sent (\d+) bytes before Lading stopped reading/.exec(err.message)?.[1])
    expect(seen).toBeGreaterThan(MAX_DOCUMENT_BYTES)
    expect(seen).toBeLessThanOrEqual(MAX_DOCUMENT_BYTES + 64 * 1024)
    expect(err.message).toContain(`${MAX_DOCUMENT_BYTES}-byte limit`)
    // The rest was never asked for: what left the server is what filled the socket's buffers.
    expect(sent.bytes).toBeLessThan(40 * MiB)
  })

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

  it('fetches each document once, however many readers ask at once', async () => {
    const f = await fake(
      serving(manifestWith(config), (req, res) => {
        if (req.method === 'HEAD') return void res.writeHead(200).end()
        res.writeHead(200, { 'Content-Length': configBytes.length })
        res.end(configBytes)
      })
    )
    const src = await openFake(f)
    const asked = async (d: Descriptor) => Buffer.concat(await (await src.open(d)).toArray())
    const got = await Promise.all([src.read(config), asked(config), src.read(config)])
    for (const g of got) expect(g.equals(configBytes)).toBe(true)
    expect(await src.has(config)).toBe(true)
    expect((await src.read(src.root)).equals(manifestWith(config))).toBe(true)
    expect(f.seen.filter(r => r.url.includes(config.digest))).toHaveLength(1)
    expect(f.seen.filter(r => r.url.includes('/manifests/'))).toHaveLength(1)
  })
})

describe('blob downloads stop at the descriptor size', () => {
  const download = async (f: FakeRegistry) => {
    const src = await openFake(f)
    const file = path.join(tmp, `layer-${Math.random()}`)
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

describe('URLs in messages', () => {
  it('a redirect loop names its URL without userinfo or query', async () => {
    let loop = ''
    const f = await fake((_req, res) => {
      res.writeHead(302, { Location: loop })
      res.end()
    })
    loop = `http://luser:hunter2@${f.host}/loop?X-Amz-Signature=s3cr3t&X-Amz-Credential=AKIA1`
    const err = await openFake(f).catch(e => e)
    expect(err).toBeInstanceOf(LadingError)
    expect(err.message).toContain(`more than 5 redirects, the last to http://${f.host}/loop`)
    for (const secret of ['luser', 'hunter2', 'X-Amz', 's3cr3t', 'AKIA1'])
      expect(err.message).not.toContain(secret)
  })

  it("a token server's refusal names its URL without its query", async () => {
    let realm = ''
    const f = await fake(
      (req, res) => {
        if (req.url === '/v2/') {
          res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${realm}",service="fake"` })
          return void res.end()
        }
        res.writeHead(400, { 'Content-Type': 'text/plain' })
        res.end('no')
      },
      { ownV2: true }
    )
    realm = `http://${f.host}/token?sig=s3cr3t`
    const err = await openFake(f).catch(e => e)
    expect(err.message).toContain(`the token server http://${f.host}/token (for ${f.host})`)
    expect(err.message).not.toContain('s3cr3t')
    expect(err.message).not.toContain('service=')
  })
})

describe('credentials over plain HTTP', () => {
  const tokenServer = () =>
    fake((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' })
      res.end('{"token":"from-the-token-server"}')
    })

  const authenticator = (base: string, creds: object) =>
    new Authenticator({
      registry: new URL(base).host,
      base: new URL(base),
      creds: async () => ({ source: 'the test', ...creds }),
      log: () => {},
      deadlineMs: 5000
    })

  it('are refused to an http:// token realm of an HTTPS registry', async () => {
    const ts = await tokenServer()
    for (const creds of [
      { credentials: { username: 'u', password: 'hunter2' } },
      { identityToken: 'refresh-me' }
    ]) {
      const auth = authenticator('https://registry.example/v2/', creds)
      auth.setChallenge(`Bearer realm="http://${ts.host}/token?x=1",service="s"`)
      const err = await auth.header(['repository:r:pull']).catch(e => e)
      expect(err).toBeInstanceOf(LadingError)
      expect(err.message).toContain(
        `registry.example is reached over HTTPS but sends Lading to the token server http://${ts.host}/token over plain HTTP`
      )
      expect(err.message).toContain('the credentials from the test')
    }
    expect(ts.seen).toEqual([])
  })

  it('go to an http:// realm of a registry itself reached over plain HTTP; none go anywhere', async () => {
    const ts = await tokenServer()
    const plain = authenticator('http://127.0.0.1:1/v2/', {
      credentials: { username: 'u', password: 'p' }
    })
    plain.setChallenge(`Bearer realm="http://${ts.host}/token",service="s"`)
    expect(await plain.header(['repository:r:pull'])).toBe('Bearer from-the-token-server')
    expect(ts.seen[0].authorization).toBe('Basic ' + Buffer.from('u:p').toString('base64'))

    const anonymous = authenticator('https://registry.example/v2/', {})
    anonymous.setChallenge(`Bearer realm="http://${ts.host}/token",service="s"`)
    expect(await anonymous.header(['repository:r:pull'])).toBe('Bearer from-the-token-server')
    expect(ts.seen[1].authorization).toBeUndefined()
  })
})
