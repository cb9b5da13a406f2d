import { Readable } from 'node:stream'
import { LadingError } from '../util/errors.js'
import { isIndexMediaType, isManifestMediaType, layerCompression } from '../oci/mediatypes.js'
import { formatReference, type Reference } from '../oci/reference.js'
import type { Descriptor } from '../oci/types.js'
import { repositoryScope } from './auth.js'
import { blobExists, getBlob, readBlob, type BlobTarget } from './blobs.js'
import { RegistryClient, type ClientOptions } from './client.js'
import { getManifest, manifestExists } from './manifests.js'
import type { ImageSource, RegistryOrigin } from '../oci/blobs.js'

/** Blobs up to this size that are not layers are read whole (and cached) rather than streamed. */
const SMALL_BLOB = 4 * 1024 * 1024

/**
 * An image in a registry as a source. Only manifests, indexes and configs are read whole; layers
 * are streamed on demand, and a push to the same registry mounts them instead (see `origin`).
 */
export class RegistrySource implements ImageSource {
  readonly name: string
  readonly origin: RegistryOrigin
  private readonly cache = new Map<string, Buffer>()

  private constructor(
    private readonly target: BlobTarget,
    readonly ref: Reference,
    readonly root: Descriptor,
    rootBytes: Buffer
  ) {
    this.name = formatReference(ref)
    this.origin = { registry: ref.registry, repository: ref.repository }
    this.cache.set(root.digest, rootBytes)
  }

  /** Resolves the reference's tag (or digest) to its top manifest or index. */
  static async open(ref: Reference, opts: ClientOptions = {}): Promise<RegistrySource> {
    const client = new RegistryClient(ref.registry, opts)
    const target: BlobTarget = {
      client,
      repository: ref.repository,
      scopes: [repositoryScope(ref.repository, 'pull')]
    }
    const wanted = ref.digest ?? ref.tag ?? 'latest'
    const m = await getManifest(target, wanted)
    return new RegistrySource(target, ref, m.descriptor, m.bytes)
  }

  /** Manifests live under /manifests/; everything else, configs included, under /blobs/. */
  private isManifest(desc: Descriptor): boolean {
    return (
      isManifestMediaType(desc.mediaType) ||
      isIndexMediaType(desc.mediaType) ||
      desc.digest === this.root.digest
    )
  }

  async read(desc: Descriptor): Promise<Buffer> {
    const cached = this.cache.get(desc.digest)
    if (cached) return cached
    let data: Buffer
    if (this.isManifest(desc)) {
      const m = await getManifest(this.target, desc.digest)
      if (m.bytes.length !== desc.size)
        throw new LadingError(
          `manifest ${desc.digest} in ${this.name} has ${m.bytes.length} bytes, the descriptor says ${desc.size}`
        )
      data = m.bytes
    } else {
      data = await readBlob(this.target, desc)
    }
    this.cache.set(desc.digest, data)
    return data
  }

  async open(desc: Descriptor): Promise<Readable> {
    // Manifests live under /manifests/, not /blobs/; readers such as the validator stream everything.
    // Configs and other small documents are read whole and cached, so the validator and the engine
    // fetch each once between them; layers stream.
    if (
      this.isManifest(desc) ||
      (layerCompression(desc.mediaType) === undefined && desc.size <= SMALL_BLOB)
    )
      return Readable.from([await this.read(desc)])
    return getBlob(this.target, desc)
  }

  async has(desc: Descriptor): Promise<boolean> {
    // What was read is there; no need to ask again.
    if (this.cache.has(desc.digest)) return true
    return this.isManifest(desc)
      ? manifestExists(this.target, desc.digest)
      : blobExists(this.target, desc.digest)
  }
}
