/** What every kind of document shares: locations, how values are quoted, media types, digests. */
import { digestProblem, encodedLength, type DigestReason } from '../../oci/digest.js'

const MEDIA_TYPE =
  /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/

/** `part` of the document at `location`, e.g. `index.json manifests[0]`. */
export function at(location: string, part: string): string {
  return location ? `${location} ${part}` : part
}

/** A value as a finding quotes it: its JSON, cut to 80 characters. */
export function show(v: unknown): string {
  const s = JSON.stringify(v)
  if (s === undefined) return String(v)
  return s.length > 80 ? s.slice(0, 77) + '...' : s
}

export function isMediaType(v: unknown): v is string {
  return typeof v === 'string' && MEDIA_TYPE.test(v)
}

/**
 * The rule a digest's problem breaks. A grammatical digest of an algorithm Lading cannot hash
 * breaks none here: the walker reports that it could not verify the blob.
 */
const DIGEST_RULE: Record<Exclude<DigestReason, 'unregistered-algorithm'>, string> = {
  'not-a-string': 'descriptor-digest',
  grammar: 'descriptor-digest',
  encoding: 'descriptor-digest-encoding'
}

function digestWhy(v: unknown, reason: keyof typeof DIGEST_RULE): string {
  if (reason === 'not-a-string') return `is ${show(v)}, not a string`
  if (reason === 'grammar') return `"${String(v)}" does not match algorithm ":" encoded`
  const [alg, enc] = String(v).split(':', 2)
  const upper = /[A-F]/.test(enc) ? ' with upper case' : ''
  return `"${String(v)}": ${alg} needs ${encodedLength(alg)} lower-case hex characters, found ${enc.length} characters${upper}`
}

/** Why `v` is not a digest per the grammar and the registered encodings, with its rule id. */
export function digestFinding(v: unknown): { rule: string; why: string } | undefined {
  const reason = digestProblem(v)?.reason
  if (reason === undefined || reason === 'unregistered-algorithm') return undefined
  return { rule: DIGEST_RULE[reason], why: digestWhy(v, reason) }
}
