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
import { sameOrigin } from './client.js'
import { displayUrl, drain, header, readDocument } from './http.js'
import { nextLink } from './link.js'
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
 * The most pages of one referrers list Lading reads. A registry pages a long list with `Link:
 * <URL>; rel="next"`; one whose links never end is stopped here rather than followed forever.
 */
export const MAX_REFERRERS_PAGES = 100

/**
 * The referrers of `subject`: the registry's referrers API where it has one (200), else the
 * fallback tag (404 from the API). A paged answer is read page by page, following its `rel="next"`
 * links on the registry's own origin only (its credentials go nowhere else), at most
 * MAX_REFERRERS_PAGES of them and never one twice; the pages' manifests are merged in order.
 */
export async function listReferrers(t: BlobTarget, subject: string): Promise<ReferrersList> {
  const what = `GET referrers of ${t.client.registry}/${t.repository}@${subject}`
  const pages: unknown[] = []
  const seen = new Set<string>()
  let url = t.client.urlOf({ path: `${t.repository}/referrers/${subject}` })
  for (;;) {
    const page = pages.length + 1
    const asked = page === 1 ? what : `${what} (page ${page}, ${displayUrl(url)})`
    const res = await t.client.request({
      method: 'GET',
      url,
      scopes: t.scopes,
      headers: { Accept: MediaType.ImageIndex },
      expect: page === 1 ? [200, 404] : [200],
      what: asked,
      repository: t.repository
    })
    if (res.status === 404) {
      await drain(res)
      const fallback = await fallbackIndex(t, subject)
      return {
        via: 'tag',
        index: fallback ?? {
          schemaVersion: 2,
          mediaType: MediaType.ImageIndex,
          manifests: []
        }
      }
    }
    seen.add(url.href)
    const bytes = await readDocument(res, asked)
    pages.push(parseJSONValue(bytes, `${asked}: the answer`))
    const next = nextLink(header(res, 'link'), res.url)
    if (!next) break
    if (!sameOrigin(t.client.base, next))
      throw new LadingError(
        `${what}: page ${page} links its next page to ${displayUrl(next)}, off the registry's ` +
          `origin ${t.client.base.origin}; Lading does not follow it (the registry's ` +
          'credentials go to the registry only), so the list would be incomplete. The registry ' +
          'or a proxy in front of it is misconfigured'
      )
    if (seen.has(next.href))
      throw new LadingError(
        `${what}: page ${page} links its next page to ${displayUrl(next)}, a page already ` +
          "read; the registry's pages go round in a loop"
      )
    if (page >= MAX_REFERRERS_PAGES)
      throw new LadingError(
        `${what}: ${t.client.registry} pages the list beyond ${MAX_REFERRERS_PAGES} pages ` +
          '(MAX_REFERRERS_PAGES); Lading stopped reading it rather than list part of it'
      )
    url = next
  }
  if (pages.length === 1) return { via: 'api', index: pages[0] }
  const manifests: unknown[] = []
  pages.forEach((p, i) => {
    if (!isObject(p) || !Array.isArray(p.manifests))
      throw new LadingError(
        `${what}: page ${i + 1} of ${pages.length} is not an image index with \`manifests\`, ` +
          'so the pages cannot be merged; the registry answered something else than a referrers list'
      )
    manifests.push(...p.manifests)
  })
  return { via: 'api', index: { ...(pages[0] as object), manifests } }
}
