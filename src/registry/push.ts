/**
 * Pushing an image: a session that takes blobs as soon as the caller has them verified (a layer
 * when it is built, a base blob when it is copied) while the rest of the run goes on, and, once
 * the caller says the image may go (its validation passed), its manifests and then its tags. A
 * session the caller abandons pushes no manifest and no tag: what it uploaded stays unreferenced,
 * as after any interrupted push, and the registry collects it.
 */
import { LadingError } from '../util/errors.js'
import { formatReference, registryApiHost, type Reference } from '../oci/reference.js'
import type { Descriptor } from '../oci/types.js'
import type { RegistryOrigin } from '../oci/blobs.js'
import { Slots } from '../util/limit.js'
import { repositoryScope } from './auth.js'
import { blobExists, type BlobTarget } from './blobs.js'
import { mountBlob, uploadBlob, type UploadSession } from './upload.js'
import { RegistryClient, type ClientOptions } from './client.js'
import { RegistryError } from './errors.js'
import { manifestExists, putManifest } from './manifests.js'
import { MountLocations, mountSources, type PushBlob } from './mounts.js'

export { MountLocations, type PushBlob } from './mounts.js'

export interface PushTargets {
  /** Each with a tag, or without one when pushByDigest. */
  targets: Reference[]
  pushByDigest?: boolean
  /** Repositories blobs may be mounted from (the sources'), named in the token's scopes. */
  mountFrom?: RegistryOrigin[]
  /** Blobs known ahead, whose mount sources the token's scopes name too. */
  blobs?: PushBlob[]
}

export interface PushRequest extends PushTargets {
  /** The manifest or index to push. */
  root: Descriptor
  /** Every manifest and index below and including root, in push order: children first, root last. */
  manifests: Array<{ descriptor: Descriptor; bytes: Buffer }>
  /** Configs and layers. */
  blobs: PushBlob[]
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
}

/** One target repository of a push and the tags it gets. */
interface Repository {
  registry: string
  repository: string
  host: string
  tags: string[]
  target: BlobTarget
  /** `registry/repository`, for messages */
  where: string
  slots: Slots
  /** The first blob's push, alone: it settles authentication before the others start. */
  first?: Promise<void>
}

/** Opens a push to every target; nothing is sent until the first blob or `finish`. */
export function beginPush(req: PushTargets, opts: PushOptions): PushSession {
  if (!req.targets.length) throw new LadingError('nothing to push to: no target reference given')
  return new PushSession(req, opts)
}

/** Pushes a whole image at once: every blob, then manifests and tags. */
export async function pushImage(req: PushRequest, opts: PushOptions): Promise<PushResult> {
  const session = beginPush(req, opts)
  for (const b of req.blobs) void session.uploadBlob(b).catch(() => undefined)
  return session.finish(req.root, req.manifests)
}

export class PushSession {
  readonly result: PushResult = { refs: [], uploaded: 0, mounted: 0, skipped: 0, bytesUploaded: 0 }
  private readonly repositories: Repository[]
  private readonly mounts: MountLocations
  private readonly log: (msg: string) => void
  /** Each blob's push to every repository, by digest: a blob offered twice goes up once. */
  private readonly uploads = new Map<string, Promise<void>>()
  /** Set by the first failure, or by abandon: no blob starts after it. */
  private stopped?: { err: unknown }

  constructor(
    private readonly req: PushTargets,
    opts: PushOptions
  ) {
    this.mounts = opts.mounts ?? new MountLocations()
    this.log = opts.log ?? (() => {})
    const clients = new Map<string, RegistryClient>()
    this.repositories = groupTargets(req.targets).map(g => {
      const host = registryApiHost(g.registry)
      let client = clients.get(host)
      if (!client) clients.set(host, (client = new RegistryClient(g.registry, opts)))
      const from = (req.mountFrom ?? [])
        .filter(o => registryApiHost(o.registry) === host && o.repository !== g.repository)
        .map(o => o.repository)
      for (const b of req.blobs ?? [])
        from.push(...mountSources(this.mounts, host, b, g.repository))
      // One token covers the whole repository push: push here, pull where blobs are mounted from.
      const scopes = [
        repositoryScope(g.repository, 'pull,push'),
        ...[...new Set(from)].map(s => repositoryScope(s, 'pull'))
      ]
      const target: BlobTarget = {
        client,
        repository: g.repository,
        scopes,
        chunkSize: opts.chunkSize
      }
      return {
        ...g,
        host,
        target,
        where: `${g.registry}/${g.repository}`,
        slots: new Slots(opts.concurrency ?? 4)
      }
    })
  }

  /**
   * Pushes a blob to every repository, starting now (within the concurrency): skipped where it is,
   * mounted where the registry holds it elsewhere, else uploaded. The caller may leave the promise:
   * a failure is kept and thrown by `finish`.
   */
  uploadBlob(blob: PushBlob): Promise<void> {
    const digest = blob.descriptor.digest
    let p = this.uploads.get(digest)
    if (!p) {
      p = Promise.all(this.repositories.map(r => this.toRepository(r, blob))).then(() => undefined)
      p.catch((err: unknown) => (this.stopped ??= { err }))
      this.uploads.set(digest, p)
    }
    return p
  }

  /**
   * Once every blob is up: the manifests, children first and the root, all by digest, in every
   * repository; only then the tags, so that no repository is tagged with an image another lacks.
   */
  async finish(
    root: Descriptor,
    manifests: Array<{ descriptor: Descriptor; bytes: Buffer }>
  ): Promise<PushResult> {
    const last = manifests[manifests.length - 1]
    if (last?.descriptor.digest !== root.digest)
      throw new LadingError(`internal: the root manifest ${root.digest} is not the last to push`)
    await this.blobsUp()
    for (const r of this.repositories) {
      for (const m of manifests) {
        if (m.descriptor.digest === root.digest) continue
        if (!(await manifestExists(r.target, m.descriptor.digest)))
          await putManifest(r.target, m.descriptor.digest, m)
      }
      // The root by digest too, so every repository holds the whole image before any is tagged.
      await putManifest(r.target, root.digest, last)
      this.log(`pushed ${r.where}@${root.digest}`)
    }
    for (const r of this.repositories) await this.tag(r, root, last)
    return this.result
  }

  /** Waits for every blob given so far to be up; throws the first failure. */
  async blobsUp(): Promise<void> {
    await Promise.all(this.uploads.values())
    if (this.stopped) throw this.stopped.err
  }

  /** Stops taking blobs and waits for those under way, whatever their end: nothing more is sent. */
  async abandon(): Promise<void> {
    this.stopped ??= { err: new LadingError('the push was abandoned') }
    await Promise.allSettled(this.uploads.values())
  }

  private async toRepository(r: Repository, blob: PushBlob): Promise<void> {
    if (!r.first) {
      r.first = r.slots.run(() => this.pushBlob(r, blob))
      return r.first
    }
    await r.first
    return r.slots.run(() => this.pushBlob(r, blob))
  }

  private async pushBlob(r: Repository, blob: PushBlob): Promise<void> {
    if (this.stopped) throw this.stopped.err
    const d = blob.descriptor
    if (await blobExists(r.target, d.digest)) {
      this.result.skipped++
      this.mounts.remember(r.host, d.digest, r.repository)
      return
    }
    let session: UploadSession | undefined
    for (const from of mountSources(this.mounts, r.host, blob, r.repository)) {
      let m
      try {
        m = await mountBlob(r.target, d.digest, from)
      } catch (err) {
        // A source the credentials may not read (or a registry that refuses mounts) only
        // costs the upload the mount would have saved.
        if (!(err instanceof RegistryError) || (err.status !== 401 && err.status !== 403)) throw err
        this.log(
          `could not mount ${d.digest} into ${r.where} from ${from} (${err.status}); uploading`
        )
        break
      }
      if (m.mounted) {
        this.result.mounted++
        this.mounts.remember(r.host, d.digest, r.repository)
        this.log(`mounted ${d.digest} into ${r.where} from ${from}`)
        return
      }
      session = m.session
      break
    }
    const bytes = await uploadBlob(r.target, d, () => blob.reader.open(d), session)
    this.result.uploaded++
    this.result.bytesUploaded += bytes
    this.mounts.remember(r.host, d.digest, r.repository)
    this.log(`uploaded ${d.digest} (${d.size} bytes) to ${r.where}`)
  }

  private async tag(
    r: Repository,
    root: Descriptor,
    doc: { descriptor: Descriptor; bytes: Buffer }
  ): Promise<void> {
    const tags = this.req.pushByDigest ? [] : r.tags
    const ref = (tag?: string) =>
      formatReference({ registry: r.registry, repository: r.repository, tag, digest: root.digest })
    if (!tags.length) this.result.refs.push(ref())
    for (const tag of tags) {
      await putManifest(r.target, tag, doc)
      this.result.refs.push(ref(tag))
    }
    if (tags.length) this.log(`tagged ${r.where} as ${tags.join(', ')}`)
  }
}

function groupTargets(
  targets: Reference[]
): Array<Pick<Repository, 'registry' | 'repository' | 'tags'>> {
  const groups = new Map<string, Pick<Repository, 'registry' | 'repository' | 'tags'>>()
  for (const t of targets) {
    const key = `${registryApiHost(t.registry)}/${t.repository}`
    let g = groups.get(key)
    if (!g) groups.set(key, (g = { registry: t.registry, repository: t.repository, tags: [] }))
    if (t.tag && !g.tags.includes(t.tag)) g.tags.push(t.tag)
  }
  return [...groups.values()]
}
