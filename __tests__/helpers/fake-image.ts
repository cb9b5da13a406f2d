/**
 * Registries that misbehave as a test says (startFakeRegistry), serving one small image: tag 1 of
 * repository r, whose manifest lists `config` and one 135-byte `layer`.
 */
import { afterEach } from '@jest/globals'
import { digestOf } from '../../src/oci/digest.js'
import { MediaType } from '../../src/oci/mediatypes.js'
import { parseReference } from '../../src/oci/reference.js'
import type { Descriptor } from '../../src/oci/types.js'
import type { ClientOptions } from '../../src/registry/client.js'
import { RegistrySource } from '../../src/registry/source.js'
import { startFakeRegistry, type FakeHandler, type FakeRegistry } from './fake-registry.js'
import { isolateDockerConfig } from './registries.js'

export const MiB = 1024 * 1024
/** One attempt: a misbehaving registry is never tried again. */
export const once = { attempts: 1, baseDelayMs: 10, maxDelayMs: 10, maxElapsedMs: 1000 }
/** Small limits, so each test's hostile registry is caught in well under a second. */
export const quick: ClientOptions = {
  retry: once,
  limits: { deadlineMs: 300, minBytesPerSecond: 1024 * 1024, rateWindowMs: 300 }
}

/**
 * Starts fake registries for the tests of the calling block, each stopped after its test, with no
 * docker config of the machine answering for them.
 */
export function useFakeRegistries(): (
  handle: FakeHandler,
  opts?: { ownV2?: boolean }
) => Promise<FakeRegistry> {
  const fakes: FakeRegistry[] = []
  isolateDockerConfig()
  afterEach(async () => {
    await Promise.all(fakes.splice(0).map(f => f.stop()))
  })
  return async (handle, opts) => {
    const f = await startFakeRegistry(handle, opts)
    fakes.push(f)
    return f
  }
}

export function descriptor(mediaType: string, data: Buffer | string): Descriptor {
  return { mediaType, digest: digestOf(data), size: Buffer.byteLength(data) }
}

export const layerBytes = Buffer.alloc(135, 7)
export const layer = descriptor(MediaType.LayerGzip, layerBytes)
export const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux' }))
export const config = descriptor(MediaType.ImageConfig, configBytes)

export function manifestWith(cfg: Descriptor): Buffer {
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
export function serving(manifest: Buffer, blob: FakeHandler): FakeHandler {
  return (req, res) => {
    if (req.url?.includes('/manifests/')) {
      res.writeHead(200, { 'Content-Type': MediaType.ImageManifest })
      return void res.end(manifest)
    }
    blob(req, res)
  }
}

export const openFake = (f: FakeRegistry, opts: ClientOptions = { retry: once }) =>
  RegistrySource.open(parseReference(`${f.host}/r/a:1`), opts)
