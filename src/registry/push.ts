import { LadingError } from '../util/errors.js'
import { formatReference, registryApiHost, type Reference } from '../oci/reference.js'
import type { Descriptor } from '../oci/types.js'
import type { BlobReader, RegistryOrigin } from '../oci/blobs.js'
import { repositoryScope } from './auth.js'
import { blobExists, type BlobTarget } from './blobs.js'
import { mountBlob, uploadBlob, type UploadSession } from './upload.js'
import { RegistryClient, type ClientOptions } from './client.js'
import { RegistryError } from './errors.js'
import { manifestExists, putManifest } from './manifests.js'
import { mapLimited } from '../util/limit.js'
import { countingStage, type StartProgress } from '../util/progress.js'
import { pipeline, type Readable } from 'node:stream'

export interface PushBlob {
  descriptor: Descriptor
  /** Where the bytes are read when the blob cannot be mounted. */
  reader: BlobReader
  /** Where the registry may mount the blob from; `reader.origin` when unset. */
  origin?: RegistryOrigin
}

export interface PushRequest {
  /** Each with a tag, or without one when pushByDigest. */
  targets: Reference[]
  /** The manifest or index to push. */
  root: Descriptor
  /** Every manifest and index below and including root, in push order: children first, root last. */
  manifests: Array<{ descriptor: Descriptor; bytes: Buffer }>
  /** Configs and layers. */
  blobs: PushBlob[]
  pushByDigest?: boolean
}

export interface PushResult {
  /** HOST/REPO:TAG@DIGEST, or HOST/REPO@DIGEST when pushed by digest. */
  refs: string[]
  uploaded: number
  mounted: number
  skipped: number
  bytesUploaded: number
}

export interface PushOptions extends ClientOptions {
  /** Blobs pushed at once to one repository. */
  concurrency?: number
  /** Chunk size of chunked uploads, and then the largest blob sent in one PUT (default: see DEFAULT_WHOLE_MAX). */
  chunkSize?: number
  /** Where blobs were seen, shared by the pushes that may mount from each other; fresh when unset. */
  mounts?: MountLocations
  /** Told of the bytes of each upload as they are read for sending. */
  progress?: StartProgress
}

/** A blob's bytes for an upload, counted into a progress task of their own (one per attempt). */
function openCounted(
  blob: PushBlob,
  where: string,
  progress: StartProgress | undefined
): () => Promise<Readable> {
  const d = blob.descriptor
  return async () => {
    const src = await blob.reader.open(d)
    if (!progress) return src
    const counter = countingStage(progress(`upload of ${d.digest} to ${where}`, d.size))
    // Either side failing or stopping ends the other; the upload sees the failure on `counter`.
    return pipeline(src, counter, () => {})
  }
}

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

function mountSources(
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

interface Group {
  registry: string
  repository: string
  tags: string[]
}

function groupTargets(targets: Reference[]): Group[] {
  const groups = new Map<string, Group>()
  for (const t of targets) {
    const key = `${registryApiHost(t.registry)}/${t.repository}`
    let g = groups.get(key)
    if (!g) groups.set(key, (g = { registry: t.registry, repository: t.repository, tags: [] }))
    if (t.tag && !g.tags.includes(t.tag)) g.tags.push(t.tag)
  }
  return [...groups.values()]
}

/**
 * Pushes an image to every target: per repository, each blob once (skipped when present,
 * mounted when the registry holds it in another repository, else uploaded), then manifests
 * children first and the root, all by digest; only when every repository holds the image, the
 * tags.
 */
export async function pushImage(req: PushRequest, opts: PushOptions): Promise<PushResult> {
  if (!req.targets.length) throw new LadingError('nothing to push to: no target reference given')
  const log = opts.log ?? (() => {})
  const mounts = opts.mounts ?? new MountLocations()
  const remember = mounts.remember.bind(mounts)
  const result: PushResult = { refs: [], uploaded: 0, mounted: 0, skipped: 0, bytesUploaded: 0 }
  const clients = new Map<string, RegistryClient>()
  const blobs = [...new Map(req.blobs.map(b => [b.descriptor.digest, b])).values()]
  const manifests = req.manifests
  const root = manifests[manifests.length - 1]
  if (root?.descriptor.digest !== req.root.digest)
    throw new LadingError(`internal: the root manifest ${req.root.digest} is not the last to push`)
  const tagging: { g: Group; target: BlobTarget }[] = []

  for (const g of groupTargets(req.targets)) {
    const host = registryApiHost(g.registry)
    let client = clients.get(host)
    if (!client) clients.set(host, (client = new RegistryClient(g.registry, opts)))
    const sources = new Set(blobs.flatMap(b => mountSources(mounts, host, b, g.repository)))
    const target: BlobTarget = {
      client,
      repository: g.repository,
      // One token covers the whole repository push: push here, pull where blobs are mounted from.
      scopes: [
        repositoryScope(g.repository, 'pull,push'),
        ...[...sources].map(s => repositoryScope(s, 'pull'))
      ],
      chunkSize: opts.chunkSize
    }
    const where = `${g.registry}/${g.repository}`

    const pushBlob = async (blob: PushBlob) => {
      const d = blob.descriptor
      if (await blobExists(target, d.digest)) {
        result.skipped++
        remember(host, d.digest, g.repository)
        return
      }
      let session: UploadSession | undefined
      for (const from of mountSources(mounts, host, blob, g.repository)) {
        let m
        try {
          m = await mountBlob(target, d.digest, from)
        } catch (err) {
          // A source the credentials may not read (or a registry that refuses mounts) only
          // costs the upload the mount would have saved.
          if (!(err instanceof RegistryError) || (err.status !== 401 && err.status !== 403))
            throw err
          log(`could not mount ${d.digest} into ${where} from ${from} (${err.status}); uploading`)
          break
        }
        if (m.mounted) {
          result.mounted++
          remember(host, d.digest, g.repository)
          log(`mounted ${d.digest} into ${where} from ${from}`)
          return
        }
        session = m.session
        break
      }
      const bytes = await uploadBlob(target, d, openCounted(blob, where, opts.progress), session)
      result.uploaded++
      result.bytesUploaded += bytes
      remember(host, d.digest, g.repository)
      log(`uploaded ${d.digest} (${d.size} bytes) to ${where}`)
    }
    // The first blob alone settles authentication (one token, or one clear refusal) before
    // the others start in parallel.
    if (blobs.length) await pushBlob(blobs[0])
    await mapLimited(blobs.slice(1), opts.concurrency ?? 4, pushBlob)

    for (const m of manifests) {
      if (m.descriptor.digest === root.descriptor.digest) continue
      if (!(await manifestExists(target, m.descriptor.digest)))
        await putManifest(target, m.descriptor.digest, m)
    }
    // The root by digest too, so every repository holds the whole image before any is tagged.
    await putManifest(target, root.descriptor.digest, root)
    log(`pushed ${where}@${root.descriptor.digest}`)
    tagging.push({ g, target })
  }

  // Tags last, once every target holds the image: a failure above leaves no registry tagged
  // with an image the others lack.
  for (const { g, target } of tagging) {
    const tags = req.pushByDigest ? [] : g.tags
    if (!tags.length)
      result.refs.push(
        formatReference({
          registry: g.registry,
          repository: g.repository,
          digest: root.descriptor.digest
        })
      )
    for (const tag of tags) {
      await putManifest(target, tag, root)
      result.refs.push(
        formatReference({
          registry: g.registry,
          repository: g.repository,
          tag,
          digest: root.descriptor.digest
        })
      )
    }
    if (tags.length) log(`tagged ${g.registry}/${g.repository} as ${tags.join(', ')}`)
  }
  return result
}
