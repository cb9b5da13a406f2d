/**
 * Attestations and other referrers inside a source index: buildx's attestation manifests
 * (`vnd.docker.reference.type: attestation-manifest`, naming the manifest they describe in
 * `vnd.docker.reference.digest`) and any manifest whose `subject` names another entry. They follow
 * the manifest they describe: kept when it is kept byte for byte, dropped when it is rebuilt, since
 * they would then describe an image that is no longer there.
 */
import { isObject } from '../../oci/json.js'
import type { Descriptor } from '../../oci/types.js'
import type { OpenedSource } from './open-sources.js'

export const DockerReference = {
  Type: 'vnd.docker.reference.type',
  Digest: 'vnd.docker.reference.digest',
  Attestation: 'attestation-manifest'
} as const

/** An index entry that describes another manifest of the same source. */
export interface Attestation {
  from: OpenedSource
  /** the entry as the source's index lists it (annotations and platform kept) */
  entry: Descriptor
  /** the digest of the manifest it describes */
  subject: string
}

/** Whether an index entry is one of buildx's attestation manifests (or another unknown/unknown). */
export function isAttestationEntry(d: Descriptor): boolean {
  return (
    d.annotations?.[DockerReference.Type] === DockerReference.Attestation ||
    (d.platform?.os === 'unknown' && d.platform?.architecture === 'unknown')
  )
}

/** The digest a manifest's or index's `subject` names, if any. */
export function subjectDigest(doc: unknown): string | undefined {
  const subject = isObject(doc) && isObject(doc.subject) ? doc.subject.digest : undefined
  return typeof subject === 'string' ? subject : undefined
}

/**
 * Which attestations go with the result: those whose subject was kept byte for byte. The others
 * are dropped, each with a line saying why.
 */
export function attestationsKept(
  all: Attestation[],
  kept: ReadonlySet<string>,
  rebuilt: ReadonlyMap<string, string>
): { kept: Attestation[]; dropped: string[] } {
  const out: Attestation[] = []
  const dropped: string[] = []
  for (const a of all) {
    if (kept.has(a.subject)) out.push(a)
    else if (rebuilt.has(a.subject))
      dropped.push(
        `dropped attestation ${a.entry.digest} of ${a.from.line}: it describes ${a.subject}, ` +
          `which was rebuilt as ${rebuilt.get(a.subject)}, so it would describe another image`
      )
    else
      dropped.push(
        `dropped attestation ${a.entry.digest} of ${a.from.line}: it describes ${a.subject}, ` +
          'which is not in the result (filtered out by platforms)'
      )
  }
  return { kept: out, dropped }
}
