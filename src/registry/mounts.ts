import { registryApiHost } from '../oci/reference.js'
import type { BlobReader, RegistryOrigin } from '../oci/blobs.js'
import type { Descriptor } from '../oci/types.js'

/**
 * Where blobs are known to be, by registry API host: a push to another repository of the same
 * registry mounts from there instead of uploading again. Whoever shares one between pushes lets
 * them mount from each other.
 */
export class MountLocations {
  private readonly byHost = new Map<string, Map<string, Set<string>>>()

  remember(host: string, digest: string, repository: string): void {
    let byDigest = this.byHost.get(host)
    if (!byDigest) this.byHost.set(host, (byDigest = new Map()))
    let repos = byDigest.get(digest)
    if (!repos) byDigest.set(digest, (repos = new Set()))
    repos.add(repository)
  }

  /** The repositories of `host` known to hold `digest`. */
  repositories(host: string, digest: string): Iterable<string> {
    return this.byHost.get(host)?.get(digest) ?? []
  }
}

/** A blob to push: its descriptor, where to read it, and where a registry may mount it from. */
export interface PushBlob {
  descriptor: Descriptor
  /** Where the bytes are read when the blob cannot be mounted. */
  reader: BlobReader
  /** Where the registry may mount the blob from; `reader.origin` when unset. */
  origin?: RegistryOrigin
}

/** The repositories of `host` other than `repository` that may hold the blob, its origin first. */
export function mountSources(
  mounts: MountLocations,
  host: string,
  blob: PushBlob,
  repository: string
): string[] {
  const out: string[] = []
  const o = blob.origin ?? blob.reader.origin
  if (o && registryApiHost(o.registry) === host && o.repository !== repository)
    out.push(o.repository)
  for (const r of mounts.repositories(host, blob.descriptor.digest))
    if (r !== repository && !out.includes(r)) out.push(r)
  return out
}
