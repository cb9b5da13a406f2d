/**
 * The `attach` files as OCI 1.1 artifacts whose `subject` is the image: each an artifact manifest
 * with the empty config and the file as its one layer. They are written into the staged layout
 * (index.json lists them after the image, so an archive carries them and validation checks them)
 * and, after the image, pushed to every tag's repository as referrers.
 */
import { createReadStream } from 'node:fs'
import * as path from 'node:path'
import { MediaType } from '../../oci/mediatypes.js'
import { formatReference, registryApiHost } from '../../oci/reference.js'
import { formatRFC3339 } from '../../oci/time.js'
import { Annotation, type Descriptor, type Manifest } from '../../oci/types.js'
import { Layout } from '../../transports/layout.js'
import {
  RegistryClient,
  pushReferrer,
  repositoryScope,
  fallbackTag,
  type BlobTarget
} from '../../registry/index.js'
import type { AttachFile } from '../attach-input.js'
import type { Plan } from '../plan.js'
import type { RunContext } from '../context.js'

/** `{}`, the content of the empty descriptor. */
const EMPTY = Buffer.from('{}')
const Title = 'org.opencontainers.image.title'

export interface Attachment {
  file: AttachFile
  /** its descriptor as index.json and referrers lists give it (artifactType, annotations) */
  entry: Descriptor
  manifest: { descriptor: Descriptor; bytes: Buffer }
  /** the empty config and the file */
  blobs: Descriptor[]
}

/** Writes each file and its artifact manifest into the layout; `subject` is the image's root. */
export async function makeAttachments(
  plan: Plan,
  subject: Descriptor,
  layout: Layout
): Promise<Attachment[]> {
  if (plan.attach.length === 0) return []
  const empty = await layout.writeBuffer(EMPTY)
  const config = { mediaType: MediaType.Empty, ...empty, data: EMPTY.toString('base64') }
  const out: Attachment[] = []
  for (const file of plan.attach) {
    const title = path.basename(file.path)
    const written = await layout.writeStream(
      createReadStream(file.path),
      undefined,
      `attach file ${file.path}`
    )
    const layer = { mediaType: file.mediaType, ...written, annotations: { [Title]: title } }
    const annotations = { [Annotation.Created]: formatRFC3339(plan.created), [Title]: title }
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ImageManifest,
      artifactType: file.mediaType,
      config,
      layers: [layer],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
      annotations
    }
    const doc = await layout.writeJSON(manifest, MediaType.ImageManifest)
    const descriptor = { mediaType: doc.mediaType, digest: doc.digest, size: doc.size }
    out.push({
      file,
      entry: { ...descriptor, artifactType: file.mediaType, annotations },
      manifest: { descriptor, bytes: doc.bytes },
      blobs: [config, layer]
    })
  }
  return out
}

/**
 * Pushes the attachments to every repository the image went to, after the image: through the
 * referrers API where the registry has it, else under the fallback tag. Blobs are read from the
 * committed output.
 */
export async function pushAttachments(
  plan: Plan,
  attachments: Attachment[],
  subject: Descriptor,
  ctx: RunContext
): Promise<void> {
  if (attachments.length === 0) return
  const output = new Layout(plan.output, { relief: ctx.relief })
  const clients = new Map<string, RegistryClient>()
  const repositories = new Map(
    plan.tags.map(t => [`${registryApiHost(t.registry)}/${t.repository}`, t])
  )
  for (const ref of repositories.values()) {
    const host = registryApiHost(ref.registry)
    let client = clients.get(host)
    if (!client) {
      const opts = {
        ...plan.auth,
        secrets: ctx.secrets,
        relief: ctx.relief,
        log: (m: string) => ctx.log.info(m)
      }
      clients.set(host, (client = new RegistryClient(ref.registry, opts)))
    }
    const target: BlobTarget = {
      client,
      repository: ref.repository,
      scopes: [repositoryScope(ref.repository, 'pull,push')]
    }
    const where = formatReference({ ...ref, tag: undefined, digest: subject.digest })
    for (const a of attachments) {
      const blobs = a.blobs.map(d => ({ descriptor: d, open: () => output.open(d) }))
      const via = await pushReferrer(target, subject.digest, { ...a, blobs })
      ctx.log.info(
        `attached ${path.basename(a.file.path)} (${a.entry.digest}) to ${where} ` +
          (via === 'api'
            ? 'through the referrers API'
            : `under the tag ${fallbackTag(subject.digest)}`)
      )
    }
  }
}
