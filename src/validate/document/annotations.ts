/** annotations.md: annotation maps (and a config's Labels, which carry the same keys). */
import { isObject } from '../../oci/json.js'
import { isLayoutRefName } from '../../oci/reference.js'
import { isRFC3339 } from '../../oci/time.js'
import { finding, type Finding } from '../rules.js'
import { digestFinding, show } from './fields.js'

const PREDEFINED_KEYS = new Set(
  [
    'created',
    'authors',
    'url',
    'documentation',
    'source',
    'version',
    'revision',
    'vendor',
    'licenses',
    'ref.name',
    'title',
    'description',
    'base.digest',
    'base.name'
  ].map(k => `org.opencontainers.image.${k}`)
)

/** Keys conversion.md defines for the runtime config (a config's Labels may carry them too). */
const CONVERSION_KEYS = new Set(
  [
    'os',
    'architecture',
    'variant',
    'os.version',
    'os.features',
    'author',
    'stopSignal',
    'exposedPorts'
  ].map(k => `org.opencontainers.image.${k}`)
)

export function checkAnnotations(
  a: unknown,
  loc: string,
  out: Finding[],
  what = 'annotations'
): void {
  if (!isObject(a)) {
    out.push(finding('annotations-type', loc, `${what} is ${show(a)}, not a map of strings`))
    return
  }
  for (const [k, v] of Object.entries(a)) {
    if (typeof v !== 'string') {
      out.push(finding('annotations-type', loc, `the value of "${k}" is ${show(v)}, not a string`))
      continue
    }
    if (k === '')
      out.push(
        finding('annotation-key-empty', loc, 'a key is the empty string; keys should be namespaced')
      )
    // "While the value MUST be present, it MAY be an empty string" holds for pre-defined keys too.
    if (v !== '') checkAnnotation(k, v, loc, out)
  }
}

/** One annotation whose value is a non-empty string: pre-defined keys have their own grammar. */
function checkAnnotation(k: string, v: string, loc: string, out: Finding[]): void {
  if (k === 'org.opencontainers.image.created' && !isRFC3339(v))
    out.push(finding('annotation-created', loc, `"${k}" is "${v}", not an RFC 3339 date-time`))
  else if (k === 'org.opencontainers.image.base.digest') {
    const p = digestFinding(v)
    if (p) out.push(finding('annotation-base-digest', loc, `"${k}" ${p.why}`))
  } else if (k === 'org.opencontainers.image.ref.name' && !isLayoutRefName(v))
    out.push(
      finding(
        'annotation-ref-name',
        loc,
        `"${k}" is "${v}", which does not match the ref grammar (components of A-Za-z0-9 joined by -._:@+ or --, separated by /)`
      )
    )
  else if (
    k.startsWith('org.opencontainers.') &&
    !PREDEFINED_KEYS.has(k) &&
    !CONVERSION_KEYS.has(k)
  )
    out.push(
      finding(
        'annotation-reserved-key',
        loc,
        `"${k}" is in the namespace org.opencontainers reserves for its specifications, but no OCI image spec key has this name`
      )
    )
}
