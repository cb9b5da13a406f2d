/**
 * Referrers lists (distribution-spec v1.1.1): the image index the referrers API answers, or the
 * one a registry without that API keeps under the fallback tag `<alg>-<ref>`. Both list the
 * manifests whose `subject` is one digest, each entry carrying the manifest's `artifactType` (or
 * its config's media type) and its annotations, so clients can filter without fetching them.
 */
import { isObject } from '../oci/json.js'
import { isIndexMediaType, isManifestMediaType } from '../oci/mediatypes.js'
import { at, checkIndex } from './document/index.js'
import { show } from './document/fields.js'
import { listed } from '../util/listing.js'
import { finding, type Finding } from './rules.js'

/**
 * Checks a referrers list of `subject`. `manifests` holds the listed manifests the caller read,
 * parsed, by digest: entries whose manifest it holds are checked against it.
 */
export function checkReferrersList(
  doc: unknown,
  subject: string,
  loc: string,
  manifests: ReadonlyMap<string, unknown> = new Map()
): Finding[] {
  const out: Finding[] = []
  if (
    !isObject(doc) ||
    !Array.isArray(doc.manifests) ||
    !isIndexMediaType(doc.mediaType as string)
  ) {
    out.push(
      finding(
        'referrers-index',
        loc,
        `the referrers list of ${subject} is not an image index with \`mediaType\` and \`manifests\``
      )
    )
    if (!isObject(doc)) return out
  }
  checkIndex(doc, loc, out)
  if (!Array.isArray(doc.manifests)) return out
  doc.manifests.forEach((entry: unknown, i: number) => {
    const where = at(loc, `manifests[${i}]`)
    if (!isObject(entry)) return
    const mt = entry.mediaType as string
    if (!isManifestMediaType(mt) && !isIndexMediaType(mt))
      out.push(
        finding(
          'referrers-index',
          where,
          `lists ${show(mt)}, which is neither a manifest nor an index`
        )
      )
    const listed = typeof entry.digest === 'string' ? manifests.get(entry.digest) : undefined
    if (isObject(listed)) checkEntry(entry, listed, subject, where, out)
  })
  return out
}

/** One entry against the manifest it names. */
function checkEntry(
  entry: Record<string, unknown>,
  manifest: Record<string, unknown>,
  subject: string,
  where: string,
  out: Finding[]
): void {
  const sub = isObject(manifest.subject) ? manifest.subject.digest : undefined
  if (sub !== subject)
    out.push(
      finding(
        'referrers-subject',
        where,
        `${show(entry.digest)} has subject ${show(sub)}, not ${subject}: it does not refer to it`
      )
    )
  const config = isObject(manifest.config) ? manifest.config.mediaType : undefined
  const expected =
    manifest.artifactType ?? (isManifestMediaType(entry.mediaType as string) ? config : undefined)
  if (entry.artifactType !== expected)
    out.push(
      finding(
        'referrers-artifacttype',
        where,
        `\`artifactType\` is ${show(entry.artifactType)}, but the manifest says ${show(expected)}`
      )
    )
  const own = isObject(manifest.annotations) ? manifest.annotations : {}
  const given = isObject(entry.annotations) ? entry.annotations : {}
  const missing = Object.keys(own).filter(k => given[k] !== own[k])
  if (missing.length)
    out.push(
      finding(
        'referrers-annotations',
        where,
        `lacks the manifest's annotation(s) ${listed(missing.map(k => show(k)))}`
      )
    )
}
