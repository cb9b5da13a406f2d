/** manifest.md: image manifests. */
import { isObject } from '../../oci/json.js'
import { MediaType, layerCompression } from '../../oci/mediatypes.js'
import { finding, type Finding } from '../rules.js'
import { checkAnnotations } from './annotations.js'
import { checkDescriptor } from './descriptor.js'
import { at, isMediaType, show } from './fields.js'
import {
  checkArtifactType,
  checkOwnMediaType,
  checkSchemaVersion,
  checkSubject
} from './manifest-fields.js'

/** The layer type of attestation manifests (buildkit provenance and SBOMs). */
const IN_TOTO = 'application/vnd.in-toto+json'

export function checkManifest(doc: unknown, loc: string, out: Finding[]): void {
  if (!isObject(doc)) {
    out.push(finding('json-not-object', loc, `the manifest is ${show(doc)}, not an object`))
    return
  }
  checkSchemaVersion(doc, 'manifest-schema-version', loc, out)
  checkOwnMediaType(
    doc,
    MediaType.ImageManifest,
    MediaType.DockerManifest,
    'manifest-mediatype',
    loc,
    out
  )
  checkArtifactType(doc, loc, out)
  const config = doc.config
  if (config === undefined) out.push(finding('manifest-config', loc, '`config` is missing'))
  else if (!isObject(config))
    out.push(finding('manifest-config', loc, `\`config\` is ${show(config)}, not a descriptor`))
  else checkDescriptor(config, at(loc, 'config'), out)
  const configType = isObject(config) ? config.mediaType : undefined
  if (configType === MediaType.Empty && doc.artifactType === undefined)
    out.push(
      finding(
        'manifest-artifacttype-missing',
        loc,
        '`config.mediaType` is the empty type, so `artifactType` must say what the artifact is'
      )
    )
  const isImage = configType === MediaType.ImageConfig || configType === MediaType.DockerConfig
  checkLayers(doc.layers, isImage, loc, out)
  checkSubject(doc, loc, out)
  if (doc.annotations !== undefined) checkAnnotations(doc.annotations, at(loc, 'annotations'), out)
}

/** `layers`: descriptors, and layer media types when the config says this is an image. */
function checkLayers(layers: unknown, isImage: boolean, loc: string, out: Finding[]): void {
  if (layers === undefined) {
    out.push(finding('manifest-layers', loc, '`layers` is missing'))
    return
  }
  if (!Array.isArray(layers)) {
    out.push(finding('manifest-layers', loc, `\`layers\` is ${show(layers)}, not an array`))
    return
  }
  if (layers.length === 0)
    out.push(
      finding(
        'manifest-layers-empty',
        loc,
        '`layers` is empty; it must have at least one entry (an artifact without content uses the empty descriptor)'
      )
    )
  layers.forEach((l, i) => {
    const lloc = at(loc, `layers[${i}]`)
    checkDescriptor(l, lloc, out)
    if (
      isImage &&
      isObject(l) &&
      typeof l.mediaType === 'string' &&
      isMediaType(l.mediaType) &&
      layerCompression(l.mediaType) === undefined &&
      // buildkit's attestation manifests: an image config for unknown/unknown, in-toto layers.
      l.mediaType !== IN_TOTO
    )
      out.push(
        finding(
          'manifest-layer-mediatype',
          lloc,
          `an image layer of media type "${l.mediaType}", which is not a layer media type`
        )
      )
  })
}
