import type { Readable } from 'node:stream'
import type { Descriptor } from './types.js'
import type { BlobScan } from './scan.js'

/** Where a blob lives in a registry, so a push to the same registry can mount it instead of copying. */
export interface RegistryOrigin {
  registry: string
  repository: string
}

/**
 * Reads the blobs (and manifests) of one place an image lives: a layout, an archive, a registry.
 * Every transport that can be a source implements it; the engine, the validator and the pusher
 * only ever see this.
 */
export interface BlobReader {
  /** How the user named this place, e.g. `oci:./layout` or `ghcr.io/o/r:1`, for messages. */
  readonly name: string
  /** Set when the blobs live in a registry repository (mountable, need not be downloaded). */
  readonly origin?: RegistryOrigin
  /**
   * The raw bytes of a blob as a stream. Not verified: callers that consume it hash it
   * (see HashingStream) and compare with `desc.digest`. Rejects with a LadingError naming
   * the blob and the place when it is missing.
   */
  open(desc: Descriptor): Promise<Readable>
  /** A whole small blob (manifest, index, config), verified against digest and size. */
  read(desc: Descriptor): Promise<Buffer>
  /** Whether the blob can be read here (a layout may omit blobs). */
  has(desc: Descriptor): Promise<boolean>
  /** Releases files or connections held open. */
  close?(): Promise<void>
  /**
   * The file that holds a blob, where the blobs are files (a layout): a layout being written can
   * link it instead of copying it, once the blob has been verified.
   */
  fileOf?(digest: string): string
}

/** A source image: the descriptor of its top manifest or index, and where to read its blobs. */
export interface ImageSource extends BlobReader {
  readonly root: Descriptor
  /**
   * Blobs the source read and scanned as it was opened (a docker-archive's layers), by scan key,
   * so that validating it does not read them again.
   */
  readonly scanned?: ReadonlyMap<string, BlobScan>
  /** The directory of the layout the source is, when it is one: validated as a layout. */
  readonly layoutDir?: string
  /**
   * The manifest a source that stores none implies, as other tools derive it: a `docker save`
   * tarball's Docker schema 2 manifest (what `skopeo inspect --raw` and a registry push show).
   * Lading builds from its own OCI conversion; `inspect` shows this one.
   */
  readonly impliedManifest?: { descriptor: Descriptor; bytes: Buffer }
  /** What the run should be told of the source that is no finding (archive entries not kept). */
  readonly warnings?: readonly string[]
}
