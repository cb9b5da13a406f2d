/**
 * Referrers (distribution-spec v1.1.1): manifests whose `subject` names another manifest. A
 * registry with the referrers API lists them itself and says so by answering the manifest PUT
 * with an `OCI-Subject` header; with any other registry the client keeps the list, an image
 * index under the fallback tag `<alg>-<ref>`, which it reads, merges, writes back and reads again
 * (other writers have no lock to respect either).
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

/**
 * How many times Lading reads, merges, writes and checks the fallback tag before it gives up:
 * each failed check means another writer replaced the index in between (matrix jobs attaching to
 * one image), and the distribution spec offers no lock.
 */
export const MAX_FALLBACK_ATTEMPTS = 5
/** The least time a write to the fallback tag is given to settle before it is read back. */
export const FALLBACK_SETTLE_MS = 100

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))
const imageIndex = (manifests: Descriptor[]): Index => ({
  schemaVersion: 2,
  mediaType: MediaType.ImageIndex,
  manifests
})
const lists = (index: Index | undefined, digest: string) =>
  (index?.manifests ?? []).some(m => isObject(m) && m.digest === digest)

/**
 * Adds the entry to the fallback tag's index: read, merge, write, then read back. There is no
 * lock, so a writer that read the index before this one wrote it may replace it with its own
 * merge; the read-back sees that (the entry is missing) and merges again, up to
 * MAX_FALLBACK_ATTEMPTS times. The read-back waits as long as the read and write took (at least
 * FALLBACK_SETTLE_MS), so that a writer as slow as this one has landed by then.
 */
async function addToFallbackTag(t: BlobTarget, subject: string, entry: Descriptor): Promise<void> {
  const tag = fallbackTag(subject)
  const where = `${t.client.registry}/${t.repository}:${tag}`
  for (let attempt = 1; ; attempt++) {
    const started = Date.now()
    const current = await fallbackIndex(t, subject, attempt === 1)
    if (lists(current?.index, entry.digest)) return
    const index = imageIndex([...(current?.index.manifests ?? []), entry])
    const bytes = Buffer.from(JSON.stringify(index))
    const descriptor = {
      mediaType: MediaType.ImageIndex,
      digest: digestOf(bytes),
      size: bytes.length
    }
    await putManifest(t, tag, { descriptor, bytes })
    await sleep(Math.max(FALLBACK_SETTLE_MS, Date.now() - started))
    const now = await fallbackIndex(t, subject, false)
    // Another writer that merged this entry in kept it: that is as good as this write.
    if (now && (now.digest === descriptor.digest || lists(now.index, entry.digest))) return
    if (attempt >= MAX_FALLBACK_ATTEMPTS)
      throw new LadingError(
        `${where}: another writer replaced the referrers tag ${attempt} times while Lading ` +
          `added ${entry.digest} (MAX_FALLBACK_ATTEMPTS); the artifact is in the repository ` +
          'by digest but the tag does not list it. Attach again once the other jobs writing ' +
          'to this image are done, or use a registry with the referrers API'
      )
    t.client.log(
      `${where}: another writer replaced the referrers tag while Lading added ` +
        `${entry.digest}; merging again (attempt ${attempt + 1} of ${MAX_FALLBACK_ATTEMPTS})`
    )
    // Jittered, so that writers which lost together do not come back together.
    await sleep(FALLBACK_SETTLE_MS * attempt * (0.5 + Math.random()))
  }
}

/**
 * The index under the fallback tag of `subject` and its digest, or undefined when there is
 * none. With `report`, what is wrong in it is logged (another client's mistakes are kept, since
 * they are its entries, but said).
 */
async function fallbackIndex(
  t: BlobTarget,
  subject: string,
  report = true
): Promise<{ index: Index; digest: string } | undefined> {
  let fetched: FetchedManifest
  try {
    fetched = await getManifest(t, fallbackTag(subject), MediaType.ImageIndex)
  } catch (err) {
    if (err instanceof RegistryError && err.status === 404) return undefined
    throw err
  }
  const where = `${t.client.registry}/${t.repository}:${fallbackTag(subject)}`
  const doc = parseJSONValue(fetched.bytes, `the referrers tag ${where}`)
  if (report)
    for (const f of checkReferrersList(doc, subject, where))
      t.client.log(`${f.severity} ${f.rule}: ${f.location}: ${f.message}`)
  if (!isObject(doc) || !Array.isArray(doc.manifests))
    throw new LadingError(
      `${where} is the referrers tag of ${subject} but holds no image index; ` +
        'remove or fix it, then attach again'
    )
  return { index: doc as unknown as Index, digest: fetched.descriptor.digest }
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
      return { via: 'tag', index: fallback?.index ?? imageIndex([]) }
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
