/** descriptor.md: the descriptors of indexes, manifests and `subject`, and their embedded data. */
import { digestOf, isRegisteredAlgorithm } from '../../oci/digest.js'
import { isObject } from '../../oci/json.js'
import { MediaType } from '../../oci/mediatypes.js'
import { finding, type Finding } from '../rules.js'
import { checkAnnotations } from './annotations.js'
import { at, digestFinding, isMediaType, show } from './fields.js'
import { checkPlatform } from './platform.js'

export const EMPTY_DIGEST =
  'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a'

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const URI = /^[A-Za-z][A-Za-z0-9+.-]*:[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]*$/

export interface DescriptorOptions {
  /** index entries may carry `platform` */
  platform?: boolean
}

/**
 * Checks one descriptor. Returns true when it is usable to fetch its blob (object with a string
 * media type, a verifiable or at least grammatical digest and an integer size).
 */
export function checkDescriptor(
  d: unknown,
  loc: string,
  out: Finding[],
  opts: DescriptorOptions = {}
): boolean {
  if (!isObject(d)) {
    out.push(finding('json-not-object', loc, `the descriptor is ${show(d)}, not an object`))
    return false
  }
  const usable = checkAddress(d, loc, out)
  if (d.urls !== undefined) checkUrls(d.urls, loc, out)
  if (d.data !== undefined) {
    if (typeof d.data !== 'string' || !BASE64.test(d.data))
      out.push(
        finding('descriptor-data', loc, `\`data\` ${show(d.data)} is not padded standard base64`)
      )
    else checkEmbedded(d, d.data, loc, out)
  }
  if (d.artifactType !== undefined && !isMediaType(d.artifactType))
    out.push(
      finding(
        'descriptor-artifacttype',
        loc,
        `\`artifactType\` ${show(d.artifactType)} is not an RFC 6838 type/subtype`
      )
    )
  if (d.annotations !== undefined) checkAnnotations(d.annotations, at(loc, 'annotations'), out)
  if (d.mediaType === MediaType.Empty && (d.digest !== EMPTY_DIGEST || d.size !== 2))
    out.push(
      finding(
        'descriptor-empty',
        loc,
        `the empty descriptor must have size 2 and digest ${EMPTY_DIGEST} (the content \`{}\`), found size ${show(d.size)} and digest ${show(d.digest)}`
      )
    )
  if (d.platform !== undefined && opts.platform) checkPlatform(d.platform, at(loc, 'platform'), out)
  return usable
}

/** `mediaType`, `digest` and `size`: whether the blob can be fetched by them. */
function checkAddress(d: Record<string, unknown>, loc: string, out: Finding[]): boolean {
  let usable = true
  if (d.mediaType === undefined) {
    out.push(finding('descriptor-mediatype', loc, '`mediaType` is missing'))
    usable = false
  } else if (!isMediaType(d.mediaType)) {
    out.push(
      finding(
        'descriptor-mediatype',
        loc,
        `\`mediaType\` ${show(d.mediaType)} is not an RFC 6838 type/subtype`
      )
    )
    usable = false
  }
  if (d.digest === undefined) {
    out.push(finding('descriptor-digest', loc, '`digest` is missing'))
    usable = false
  } else {
    const p = digestFinding(d.digest)
    if (p) {
      out.push(finding(p.rule, loc, `\`digest\` ${p.why}`))
      usable = false
    }
  }
  if (d.size === undefined) {
    out.push(finding('descriptor-size', loc, '`size` is missing'))
    usable = false
  } else if (typeof d.size !== 'number' || !Number.isInteger(d.size)) {
    out.push(finding('descriptor-size', loc, `\`size\` is ${show(d.size)}, not an integer`))
    usable = false
  } else if (d.size < 0) {
    out.push(
      finding('descriptor-size-negative', loc, `\`size\` is ${d.size}; a size cannot be negative`)
    )
  }
  return usable
}

function checkUrls(urls: unknown, loc: string, out: Finding[]): void {
  if (!Array.isArray(urls)) {
    out.push(finding('descriptor-urls', loc, `\`urls\` is ${show(urls)}, not an array`))
    return
  }
  urls.forEach((u, i) => {
    if (typeof u !== 'string' || !URI.test(u) || /%(?![0-9A-Fa-f]{2})/.test(u))
      out.push(finding('descriptor-urls', loc, `\`urls[${i}]\` ${show(u)} is not an RFC 3986 URI`))
    else if (!/^https?:/i.test(u))
      out.push(
        finding('descriptor-urls-scheme', loc, `\`urls[${i}]\` "${u}" uses neither http nor https`)
      )
  })
}

function checkEmbedded(
  d: Record<string, unknown>,
  data: string,
  loc: string,
  out: Finding[]
): void {
  const bytes = Buffer.from(data, 'base64')
  if (typeof d.size === 'number' && bytes.length !== d.size)
    out.push(
      finding(
        'descriptor-data-mismatch',
        loc,
        `\`data\` decodes to ${bytes.length} bytes but \`size\` is ${d.size}`
      )
    )
  if (typeof d.digest === 'string' && !digestFinding(d.digest) && isRegisteredAlgorithm(d.digest)) {
    const actual = digestOf(bytes, d.digest.split(':', 1)[0])
    if (actual !== d.digest)
      out.push(
        finding(
          'descriptor-data-mismatch',
          loc,
          `\`data\` has digest ${actual}, not the descriptor's ${d.digest}`
        )
      )
  }
}
