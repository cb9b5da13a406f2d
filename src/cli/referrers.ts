/**
 * `lading referrers REF`: the artifacts that refer to an image (signatures, SBOMs, attestations),
 * as the registry lists them through its referrers API or, lacking one, under the fallback tag.
 * The list and each manifest it names are checked against the distribution spec's rules.
 */
import { isObject } from '../oci/json.js'
import { parseReference } from '../oci/reference.js'
import type { Descriptor } from '../oci/types.js'
import {
  RegistryClient,
  getManifest,
  listReferrers,
  repositoryScope,
  fallbackTag,
  type BlobTarget,
  type ClientOptions
} from '../registry/index.js'
import { parseJSONValue } from '../oci/json.js'
import { checkReferrersList, type Finding } from '../validate/index.js'
import { LadingError } from '../util/errors.js'

export interface ReferrersListing {
  /** the image whose referrers these are, by digest */
  subject: string
  /** `api` (the registry's referrers API) or `tag` (the fallback tag) */
  via: 'api' | 'tag'
  tag?: string
  referrers: Descriptor[]
  findings: Finding[]
}

/** Lists the referrers of the image `reference` names (a tag is resolved to its digest first). */
export async function referrersOf(
  reference: string,
  opts: ClientOptions
): Promise<ReferrersListing> {
  let ref
  try {
    ref = parseReference(reference, { defaultTag: 'latest' })
  } catch (err) {
    throw new LadingError(`referrers: ${(err as Error).message}`)
  }
  const target: BlobTarget = {
    client: new RegistryClient(ref.registry, opts),
    repository: ref.repository,
    scopes: [repositoryScope(ref.repository, 'pull')]
  }
  const subject = ref.digest ?? (await getManifest(target, ref.tag ?? 'latest')).descriptor.digest
  const list = await listReferrers(target, subject)
  const entries =
    isObject(list.index) && Array.isArray(list.index.manifests) ? list.index.manifests : []
  const referrers = entries.filter(isObject) as unknown as Descriptor[]
  const manifests = new Map<string, unknown>()
  for (const d of referrers) {
    if (typeof d.digest !== 'string') continue
    const m = await getManifest(target, d.digest)
    manifests.set(d.digest, parseJSONValue(m.bytes, `referrer ${d.digest}`))
  }
  const where = list.via === 'api' ? `referrers of ${subject}` : `tag ${fallbackTag(subject)}`
  return {
    subject,
    via: list.via,
    tag: list.via === 'tag' ? fallbackTag(subject) : undefined,
    referrers,
    findings: checkReferrersList(list.index, subject, where, manifests)
  }
}

/** The listing as a table: digest, artifact type, size, and the title and creation annotations. */
export function formatReferrers(l: ReferrersListing): string {
  const head = `referrers of ${l.subject} (${l.via === 'api' ? 'referrers API' : `fallback tag ${l.tag}`}): ${l.referrers.length}\n`
  if (l.referrers.length === 0) return head
  const rows = l.referrers.map(d => [
    d.digest,
    d.artifactType ?? '',
    String(d.size),
    d.annotations?.['org.opencontainers.image.title'] ?? '',
    d.annotations?.['org.opencontainers.image.created'] ?? ''
  ])
  const table = [['DIGEST', 'ARTIFACT TYPE', 'SIZE', 'TITLE', 'CREATED'], ...rows]
  const widths = table[0].map((_, i) => Math.max(...table.map(r => r[i].length)))
  return (
    head +
    table
      .map(r =>
        r
          .map((c, i) => c.padEnd(widths[i]))
          .join('  ')
          .trimEnd()
      )
      .join('\n') +
    '\n'
  )
}
