import { Readable } from 'node:stream'
import { LadingError } from '../util/errors.js'
import { MAX_DOCUMENT_BYTES } from '../oci/limits.js'
import { isObject, parseJSON } from '../oci/json.js'
import { isIndexMediaType, isManifestMediaType, layerCompression } from '../oci/mediatypes.js'
import { formatReference, type Reference } from '../oci/reference.js'
import type { Descriptor, Manifest } from '../oci/types.js'
import { repositoryScope } from './auth.js'
import { blobExists, getBlob, readBlob, type BlobTarget } from './blobs.js'
import { RegistryClient, type ClientOptions } from './client.js'
import { getManifest, manifestExists } from './manifests.js'
import type { ImageSource, RegistryOrigin } from '../oci/blobs.js'

/**
 * An image in a registry as a source. Documents (manifests, indexes, configs) are read whole,
 * each once, never past MAX_DOCUMENT_BYTES; layers are streamed on demand, and a push to the same
 * registry mounts them instead (see `origin`).
 */
export class RegistrySource implements ImageSource {
  readonly name: string
  readonly origin: RegistryOrigin
  /** Every document asked for, by digest: the engine and the validator share one fetch. */
  private readonly documents = new Map<string, Promise<Buffer>>()
  /** The configs named by the manifests read here: documents, whatever their media type. */
  private readonly configs = new Set<string>()

  private constructor(
    private readonly target: BlobTarget,
    readonly ref: Reference,
    readonly root: Descriptor,
    rootBytes: Buffer
  ) {
    this.name = formatReference(ref)
    this.origin = { registry: ref.registry, repository: ref.repository }
    this.documents.set(root.digest, Promise.resolve(rootBytes))
    this.noteConfig(rootBytes)
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

  /** Documents are read whole and once; small blobs that are not layers are treated alike. */
  private isDocument(desc: Descriptor): boolean {
    return (
      this.isManifest(desc) ||
      this.configs.has(desc.digest) ||
      (layerCompression(desc.mediaType) === undefined && desc.size <= MAX_DOCUMENT_BYTES)
    )
  }

  private noteConfig(bytes: Buffer): void {
    // Not JSON (or too deep): the validator says so; there is no config to note.
    const doc = parseJSON(bytes).value
    const config = isObject(doc) ? (doc as Partial<Manifest>).config : undefined
    if (typeof config?.digest === 'string') this.configs.add(config.digest)
  }

  read(desc: Descriptor): Promise<Buffer> {
    let p = this.documents.get(desc.digest)
    if (!p) {
      p = this.fetch(desc)
      this.documents.set(desc.digest, p)
      // A failure is not remembered: a later read may find the registry better.
      p.catch(() => this.documents.delete(desc.digest))
    }
    return p
  }

  private async fetch(desc: Descriptor): Promise<Buffer> {
    if (!this.isManifest(desc)) return readBlob(this.target, desc)
    if (desc.size > MAX_DOCUMENT_BYTES)
      throw new LadingError(
        `manifest ${desc.digest} in ${this.name}: its descriptor says ${desc.size} bytes, more ` +
          `than the ${MAX_DOCUMENT_BYTES}-byte limit on documents (MAX_DOCUMENT_BYTES) that ` +
          'Lading reads; it was not fetched'
      )
    const m = await getManifest(this.target, desc.digest)
    if (m.bytes.length !== desc.size)
      throw new LadingError(
        `manifest ${desc.digest} in ${this.name} has ${m.bytes.length} bytes, the descriptor says ${desc.size}`
      )
    this.noteConfig(m.bytes)
    return m.bytes
  }

  async open(desc: Descriptor): Promise<Readable> {
    // Readers such as the validator stream everything; documents come from the one read.
    if (this.isDocument(desc)) return Readable.from([await this.read(desc)])
    return getBlob(this.target, desc)
  }

  async has(desc: Descriptor): Promise<boolean> {
    // What was read is there; no need to ask again.
    if (this.documents.has(desc.digest)) return true
    return this.isManifest(desc)
      ? manifestExists(this.target, desc.digest)
      : blobExists(this.target, desc.digest)
  }
}
