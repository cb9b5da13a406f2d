import { describe, expect, it } from '@jest/globals'
import { MAX_DOCUMENT_BYTES } from '../../src/oci/limits.js'
import { MediaType } from '../../src/oci/mediatypes.js'
import { LadingError } from '../../src/util/errors.js'
import { MiB, openFake, useFakeRegistries } from '../helpers/fake-image.js'
import { flood } from '../helpers/fake-registry.js'

const fake = useFakeRegistries()

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
})
