/**
 * Referrers (distribution-spec v1.1.1): manifests whose `subject` names another manifest. A
 * registry with the referrers API lists them itself and says so by answering the manifest PUT
 * with an `OCI-Subject` header; with any other registry the client keeps the list, an image
 * index under the fallback tag `<alg>-<ref>`, which it reads, merges and writes back.
 */
import type { Readable } from 'node:stream'
import { LadingError } from '../util/errors.js'
import { digestOf, parseDigest } from '../oci/digest.js'
import { isObject, parseJSONValue } from '../oci/json.js'
import { MediaType } from '../oci/mediatypes.js'
import type { Descriptor, Index } from '../oci/types.js'
import { blobExists, type BlobTarget } from './blobs.js'
import { RegistryError } from './errors.js'
import { drain, header, readDocument } from './http.js'
import { getManifest, putManifest, type FetchedManifest } from './manifests.js'
import { uploadBlob } from './upload.js'
import { checkReferrersList } from '../validate/index.js'

/** A manifest to push as a referrer, with the blobs it references. */
export interface ReferrerPush {
  manifest: FetchedManifest
  /** Its descriptor as a referrers list gives it: `artifactType` and annotations included. */
  entry: Descriptor
  blobs: Array<{ descriptor: Descriptor; open: () => Promise<Readable> }>
}

/** How a registry holds an image's referrers: its API, or the fallback tag. */
export type ReferrersVia = 'api' | 'tag'

/** The fallback tag of a subject: `<alg>-<ref>`, the algorithm cut to 32 and the hex to 64. */
export function fallbackTag(digest: string): string {
  const { algorithm, encoded } = parseDigest(digest)
  return `${algorithm.slice(0, 32)}-${encoded.slice(0, 64)}`
}

/**
 * Pushes one referrer into a repository: its blobs where missing, the manifest by digest, then,
 * unless the registry answered `OCI-Subject` (it lists referrers itself), the fallback tag.
 */
export async function pushReferrer(
  t: BlobTarget,
  subject: string,
  r: ReferrerPush
): Promise<ReferrersVia> {
  for (const b of r.blobs)
    if (!(await blobExists(t, b.descriptor.digest))) await uploadBlob(t, b.descriptor, b.open)
  const d = r.manifest.descriptor
  const what = `PUT manifest ${t.client.registry}/${t.repository}@${d.digest}`
  const res = await t.client.request({
    method: 'PUT',
    path: `${t.repository}/manifests/${d.digest}`,
    scopes: t.scopes,
    headers: { 'Content-Type': d.mediaType },
    body: r.manifest.bytes,
    expect: [201],
    what,
    repository: t.repository
  })
  await drain(res)
  const stated = header(res, 'docker-content-digest')
  if (stated && stated !== d.digest)
    throw new LadingError(`${what}: the registry stored it as ${stated}, not ${d.digest}`)
  if (header(res, 'oci-subject') === subject) return 'api'
  await addToFallbackTag(t, subject, r.entry)
  return 'tag'
}

/** Reads the fallback tag's index (none yet: empty), adds the entry, writes it back. */
async function addToFallbackTag(t: BlobTarget, subject: string, entry: Descriptor): Promise<void> {
  const tag = fallbackTag(subject)
  const current = await fallbackIndex(t, subject)
  const manifests = (current?.manifests ?? []).filter(m => m.digest !== entry.digest)
  const index: Index = {
    schemaVersion: 2,
    mediaType: MediaType.ImageIndex,
    manifests: [...manifests, entry]
  }
  const bytes = Buffer.from(JSON.stringify(index))
  const descriptor = {
    mediaType: MediaType.ImageIndex,
    digest: digestOf(bytes),
    size: bytes.length
  }
  await putManifest(t, tag, { descriptor, bytes })
}

/** The index under the fallback tag of `subject`, or undefined when there is none. */
async function fallbackIndex(t: BlobTarget, subject: string): Promise<Index | undefined> {
  let fetched: FetchedManifest
  try {
    fetched = await getManifest(t, fallbackTag(subject), MediaType.ImageIndex)
  } catch (err) {
    if (err instanceof RegistryError && err.status === 404) return undefined
    throw err
  }
  const where = `${t.client.registry}/${t.repository}:${fallbackTag(subject)}`
  const doc = parseJSONValue(fetched.bytes, `the referrers tag ${where}`)
  // Another client's mistakes are kept (they are its entries), but said.
  for (const f of checkReferrersList(doc, subject, where))
    t.client.log(`${f.severity} ${f.rule}: ${f.location}: ${f.message}`)
  if (!isObject(doc) || !Array.isArray(doc.manifests))
    throw new LadingError(
      `${t.client.registry}/${t.repository}:${fallbackTag(subject)} is the referrers tag of ` +
        `${subject} but holds no image index; remove or fix it, then attach again`
    )
  return doc as unknown as Index
}

export interface ReferrersList {
  via: ReferrersVia
  /** The list as the registry keeps it: an image index (empty when there is none). */
  index: unknown
}

/**
 * The referrers of `subject`: the registry's referrers API where it has one (200), else the
 * fallback tag (404 from the API).
 */
export async function listReferrers(t: BlobTarget, subject: string): Promise<ReferrersList> {
  const what = `GET referrers of ${t.client.registry}/${t.repository}@${subject}`
  const res = await t.client.request({
    method: 'GET',
    path: `${t.repository}/referrers/${subject}`,
    scopes: t.scopes,
    headers: { Accept: MediaType.ImageIndex },
    expect: [200, 404],
    what,
    repository: t.repository
  })
  if (res.status === 200) {
    const bytes = await readDocument(res, what)
    return { via: 'api', index: parseJSONValue(bytes, `${what}: the answer`) }
  }
  await drain(res)
  const index = await fallbackIndex(t, subject)
  return {
    via: 'tag',
    index: index ?? { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: [] }
  }
}
