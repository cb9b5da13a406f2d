/**
 * Stage 4: the image graph of the result. Each platform's image is kept byte for byte when nothing
 * changes it, or rebuilt with the new layers and the config edits; a single source index taken
 * whole keeps its bytes, its digest and whatever else it holds (attestations, artifacts). The
 * documents and configs are written into the staged layout; base blobs stay where they are read.
 */
import type { Descriptor } from '../../oci/types.js'
import { Annotation } from '../../oci/types.js'
import { ImageGraph, documentChildren, walkGraph, descriptors } from '../../oci/graph.js'
import type { GraphBlob, GraphDocument } from '../../oci/graph.js'
import { MediaType, isIndexMediaType } from '../../oci/mediatypes.js'
import { formatPlatform } from '../../oci/platform.js'
import type { Layout } from '../../transports/layout.js'
import {
  editConfig,
  hasConfigEdits,
  makeIndex,
  makeManifest,
  sortKeys,
  type NewLayer
} from '../../build/assemble.js'
import type { Plan } from '../plan.js'
import type { PlatformResult } from '../result.js'
import type { OpenedSource } from './open-sources.js'
import type { Resolution, SourceImage } from './resolve-platforms.js'
import { parseJSONValue } from '../../oci/json.js'
import { attestationsKept } from './attestations.js'
import {
  hasManifestDescriptorAnnotations,
  manifestAnnotationsFor,
  manifestDescriptorAnnotationsFor
} from '../annotations.js'
import type { NewLayers } from './build-layers.js'
import { checkEditableConfig } from './editable-config.js'

export interface Assembled {
  graph: ImageGraph
  images: PlatformResult[]
  /** the single source index (or artifact) was copied whole */
  copiedWhole: boolean
  /** attestations left out because the image they describe was rebuilt or filtered out */
  dropped: string[]
}

/** The documents and blobs of the graph being made. */
class GraphParts {
  readonly documents = new Map<string, GraphDocument>()
  readonly blobs = new Map<string, GraphBlob>()

  document(descriptor: Descriptor, bytes: Buffer): void {
    const { mediaType, digest, size } = descriptor
    this.documents.set(digest, { descriptor: { mediaType, digest, size }, bytes })
  }

  /** The first place a blob is found wins: a config written to the layout over a source's. */
  inLayout(descriptor: Descriptor): void {
    if (!this.blobs.has(descriptor.digest))
      this.blobs.set(descriptor.digest, { descriptor, location: { kind: 'layout' } })
  }

  fromSource(descriptor: Descriptor, src: OpenedSource): void {
    if (this.blobs.has(descriptor.digest)) return
    this.blobs.set(descriptor.digest, {
      descriptor,
      location: { kind: 'source', reader: src.source, verified: src.verified },
      origin: src.source.origin
    })
  }
}

export async function assembleGraph(
  plan: Plan,
  resolution: Resolution,
  newLayers: NewLayers,
  sources: OpenedSource[],
  layout: Layout
): Promise<Assembled> {
  const parts = new GraphParts()
  const images: PlatformResult[] = []
  const entries: Descriptor[] = []
  const kept = new Set<string>()
  const rebuilt = new Map<string, string>()
  let mutate = false
  for (const [i, img] of resolution.images.entries()) {
    const layers = newLayers.forImage(i)
    const annotations = manifestAnnotationsFor(plan.annotations, img.platform)
    // An image nothing changes keeps its bytes, even when another platform's changes.
    const changed =
      layers.length > 0 || hasConfigEdits(plan.config) || Object.keys(annotations).length > 0
    mutate ||= changed
    const keep = !changed && img.from
    const made = keep
      ? await keepImage(img, img.from!, parts, layout)
      : await rebuildImage(plan, img, layers, annotations, parts, layout)
    const onEntry = manifestDescriptorAnnotationsFor(plan.annotations, img.platform)
    entries.push({ ...made.descriptor, platform: img.platform, ...annotationsField(onEntry) })
    images.push(made.result)
    if (keep) kept.add(made.descriptor.digest)
    else if (img.manifestDesc.digest) rebuilt.set(img.manifestDesc.digest, made.descriptor.digest)
  }
  const whole =
    resolution.artifact ??
    (sources.length === 1 && !mutate ? wholeIndex(plan, sources[0]) : undefined)
  if (whole) {
    await copyGraph(whole, whole.source.root, parts, layout)
    const { mediaType, digest, size } = whole.source.root
    const root = { mediaType, digest, size, ...annotationsField(plan.annotations.indexDescriptor) }
    return { graph: graphOf(root, parts), images, copiedWhole: true, dropped: [] }
  }
  const followed = attestationsKept(resolution.attestations, kept, rebuilt)
  const listed = new Set(entries.map(e => e.digest))
  for (const a of followed.kept) {
    if (listed.has(a.entry.digest)) continue
    listed.add(a.entry.digest)
    await copyGraph(a.from, a.entry, parts, layout)
    entries.push(a.entry)
  }
  const root = await rootOf(plan, entries, parts, layout)
  return { graph: graphOf(root, parts), images, copiedWhole: false, dropped: followed.dropped }
}

/** `{annotations}` when there are any, so a descriptor without them keeps its bytes. */
function annotationsField(a: Record<string, string>): { annotations?: Record<string, string> } {
  return Object.keys(a).length ? { annotations: sortKeys(a) } : {}
}

function graphOf(root: Descriptor, parts: GraphParts): ImageGraph {
  return new ImageGraph(root, parts.documents, parts.blobs)
}

/** An image nothing changes: its manifest and config bytes as they are. */
async function keepImage(
  img: SourceImage,
  src: OpenedSource,
  parts: GraphParts,
  layout: Layout
): Promise<{ descriptor: Descriptor; result: PlatformResult }> {
  await layout.writeBuffer(img.manifestBytes)
  await layout.writeBuffer(img.configBytes)
  parts.document(img.manifestDesc, img.manifestBytes)
  parts.inLayout(img.manifest.config)
  for (const l of img.manifest.layers) parts.fromSource(l, src)
  const { mediaType, digest, size } = img.manifestDesc
  return {
    descriptor: { mediaType, digest, size },
    result: {
      platform: formatPlatform(img.platform),
      digest,
      configDigest: img.manifest.config.digest,
      layers: img.manifest.layers,
      source: src.line
    }
  }
}

/** An image with the new layers appended and the config edits applied. */
async function rebuildImage(
  plan: Plan,
  img: SourceImage,
  newLayers: NewLayer[],
  userAnnotations: Record<string, string>,
  parts: GraphParts,
  layout: Layout
): Promise<{ descriptor: Descriptor; result: PlatformResult }> {
  if (img.from)
    checkEditableConfig(
      img.config,
      plan.config,
      `from "${img.from.line}": the config ${img.manifest.config.digest}`
    )
  const config = editConfig(img.config, plan.config, newLayers, plan.created)
  const configDesc = await layout.writeJSON(config, MediaType.ImageConfig)
  const annotations = { ...plan.defaultAnnotations, ...userAnnotations }
  if (img.from?.source.origin) {
    annotations[Annotation.BaseName] = img.from.line.replace(/^docker:\/\//, '')
    annotations[Annotation.BaseDigest] = img.manifestDesc.digest
  }
  const manifest = makeManifest(configDesc, img.manifest.layers, newLayers, annotations)
  parts.inLayout(manifest.config)
  manifest.layers.forEach((l, i) => {
    if (img.from && i < img.manifest.layers.length) parts.fromSource(l, img.from)
    else parts.inLayout(l)
  })
  const written = await layout.writeJSON(manifest, MediaType.ImageManifest)
  const descriptor = {
    mediaType: MediaType.ImageManifest,
    digest: written.digest,
    size: written.size
  }
  parts.document(descriptor, written.bytes)
  return {
    descriptor,
    result: {
      platform: formatPlatform(img.platform),
      digest: written.digest,
      configDigest: configDesc.digest,
      layers: manifest.layers,
      source: img.from?.line || 'scratch'
    }
  }
}

/** The single source whose index is copied whole: nothing changed, nothing filtered. */
function wholeIndex(plan: Plan, src: OpenedSource): OpenedSource | undefined {
  if (
    plan.platforms.length > 0 ||
    Object.keys(plan.annotations.index).length > 0 ||
    hasManifestDescriptorAnnotations(plan.annotations)
  )
    return undefined
  return isIndexMediaType(src.source.root.mediaType) ? src : undefined
}

/** Every document and blob below `top` in the source, its documents written to the layout. */
async function copyGraph(
  src: OpenedSource,
  top: Descriptor,
  parts: GraphParts,
  layout: Layout
): Promise<void> {
  const { mediaType, digest, size } = top
  await walkGraph(
    { mediaType, digest, size },
    descriptors({
      children: async d => {
        const bytes = await src.source.read(d)
        await layout.writeBuffer(bytes)
        parts.document(d, bytes)
        const doc = parseJSONValue(bytes, `${src.line}: ${d.digest}`) as {
          manifests?: Descriptor[]
          config?: Descriptor
          layers?: Descriptor[]
        }
        const children = documentChildren(doc)
        const listed = new Set(children.map(c => c.digest))
        for (const m of doc.manifests ?? []) if (!listed.has(m.digest)) parts.fromSource(m, src)
        for (const b of [...(doc.config ? [doc.config] : []), ...(doc.layers ?? [])])
          parts.fromSource(b, src)
        return children
      }
    })
  )
}

/** A manifest for one platform; an index for several, or when index annotations are asked for. */
async function rootOf(
  plan: Plan,
  entries: Descriptor[],
  parts: GraphParts,
  layout: Layout
): Promise<Descriptor> {
  const onRoot = plan.annotations.indexDescriptor
  if (entries.length === 1 && Object.keys(plan.annotations.index).length === 0) {
    // With no index, the layout's index.json entry is the manifest's descriptor and the root's.
    const { mediaType, digest, size, annotations } = entries[0]
    return { mediaType, digest, size, ...annotationsField({ ...annotations, ...onRoot }) }
  }
  const index = makeIndex(entries, { ...plan.defaultAnnotations, ...plan.annotations.index })
  const written = await layout.writeJSON(index, MediaType.ImageIndex)
  const root = { mediaType: MediaType.ImageIndex, digest: written.digest, size: written.size }
  parts.document(root, written.bytes)
  return { ...root, ...annotationsField(onRoot) }
}
