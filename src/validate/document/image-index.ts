/** image-index.md: image indexes, and index.json of a layout. */
import { isObject } from '../../oci/json.js'
import { MediaType } from '../../oci/mediatypes.js'
import { finding, type Finding } from '../rules.js'
import { checkAnnotations } from './annotations.js'
import { checkDescriptor } from './descriptor.js'
import { at, show } from './fields.js'
import {
  checkArtifactType,
  checkOwnMediaType,
  checkSchemaVersion,
  checkSubject
} from './manifest-fields.js'

export function checkIndex(doc: unknown, loc: string, out: Finding[]): void {
  if (!isObject(doc)) {
    out.push(finding('json-not-object', loc, `the index is ${show(doc)}, not an object`))
    return
  }
  checkSchemaVersion(doc, 'index-schema-version', loc, out)
  checkOwnMediaType(
    doc,
    MediaType.ImageIndex,
    MediaType.DockerManifestList,
    'index-mediatype',
    loc,
    out
  )
  checkArtifactType(doc, loc, out)
  const m = doc.manifests
  if (m === undefined) out.push(finding('index-manifests', loc, '`manifests` is missing'))
  else if (!Array.isArray(m))
    out.push(finding('index-manifests', loc, `\`manifests\` is ${show(m)}, not an array`))
  else m.forEach((d, i) => checkDescriptor(d, at(loc, `manifests[${i}]`), out, { platform: true }))
  checkSubject(doc, loc, out)
  if (doc.annotations !== undefined) checkAnnotations(doc.annotations, at(loc, 'annotations'), out)
}
