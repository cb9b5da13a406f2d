/** The fields image manifests and image indexes share: schemaVersion, mediaType, artifactType, subject. */
import { isObject } from '../../oci/json.js'
import { isIndexMediaType, isManifestMediaType } from '../../oci/mediatypes.js'
import { finding, type Finding } from '../rules.js'
import { checkDescriptor } from './descriptor.js'
import { at, isMediaType, show } from './fields.js'

export function checkSchemaVersion(
  doc: Record<string, unknown>,
  rule: string,
  loc: string,
  out: Finding[]
): void {
  if (doc.schemaVersion !== 2)
    out.push(
      finding(
        rule,
        loc,
        doc.schemaVersion === undefined
          ? '`schemaVersion` is missing'
          : `\`schemaVersion\` is ${show(doc.schemaVersion)}, not 2`
      )
    )
}

/** The document's own `mediaType`, when present, is the OCI one (`docker` is its Docker twin). */
export function checkOwnMediaType(
  doc: Record<string, unknown>,
  oci: string,
  docker: string,
  rule: string,
  loc: string,
  out: Finding[]
): void {
  const mt = doc.mediaType
  if (mt === undefined || mt === oci) return
  if (mt === docker)
    out.push(
      finding(
        'mediatype-docker',
        loc,
        `\`mediaType\` is the Docker type ${docker}; OCI uses ${oci}`
      )
    )
  else out.push(finding(rule, loc, `\`mediaType\` is ${show(mt)}; it must be ${oci} when present`))
}

export function checkArtifactType(doc: Record<string, unknown>, loc: string, out: Finding[]): void {
  if (doc.artifactType !== undefined && !isMediaType(doc.artifactType))
    out.push(
      finding(
        'manifest-artifacttype',
        loc,
        `\`artifactType\` ${show(doc.artifactType)} is not an RFC 6838 type/subtype`
      )
    )
}

export function checkSubject(doc: Record<string, unknown>, loc: string, out: Finding[]): void {
  if (doc.subject === undefined) return
  if (!isObject(doc.subject))
    out.push(
      finding(
        'manifest-subject',
        at(loc, 'subject'),
        `\`subject\` is ${show(doc.subject)}, not a descriptor`
      )
    )
  else if (
    checkDescriptor(doc.subject, at(loc, 'subject'), out) &&
    !isManifestMediaType(doc.subject.mediaType as string) &&
    !isIndexMediaType(doc.subject.mediaType as string)
  )
    // A referrer describes another manifest; a layer or config cannot be listed by the registry.
    out.push(
      finding(
        'subject-mediatype',
        at(loc, 'subject'),
        `\`subject\` has media type ${show(doc.subject.mediaType)}, which is neither a manifest nor an index`
      )
    )
}
