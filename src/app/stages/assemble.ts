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
  type NewLayer
} from '../../build/assemble.js'
import type { Plan } from '../plan.js'
import type { PlatformResult } from '../result.js'
import type { OpenedSource } from './open-sources.js'
import { parseDocument, type Resolution, type SourceImage } from './resolve-platforms.js'
import { checkEditableConfig } from './editable-config.js'

export interface Assembled {
  graph: ImageGraph
  images: PlatformResult[]
  /** the single source index was copied whole */
  copiedWhole: boolean
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
  newLayers: NewLayer[],
  sources: OpenedSource[],
  layout: Layout
): Promise<Assembled> {
  const parts = new GraphParts()
  const mutate =
    newLayers.length > 0 ||
    hasConfigEdits(plan.config) ||
    Object.keys(plan.annotations.manifest).length > 0
  const images: PlatformResult[] = []
  const entries: Descriptor[] = []
  for (const img of resolution.images) {
    const made =
      !mutate && img.from
        ? await keepImage(img, img.from, parts, layout)
        : await rebuildImage(plan, img, newLayers, parts, layout)
    entries.push({ ...made.descriptor, platform: img.platform })
    images.push(made.result)
  }
  const whole = sources.length === 1 && !mutate ? wholeIndex(plan, sources[0]) : undefined
  if (whole) {
    await copyGraph(whole, parts, layout)
    const { mediaType, digest, size } = whole.source.root
    return { graph: graphOf({ mediaType, digest, size }, parts), images, copiedWhole: true }
  }
  const root = await rootOf(plan, entries, parts, layout)
  return { graph: graphOf(root, parts), images, copiedWhole: false }
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
  parts: GraphParts,
  layout: Layout
): Promise<{ descriptor: Descriptor; result: PlatformResult }> {
  if (img.from)
    checkEditableConfig(
      img.configBytes,
      img.config,
      plan.config,
      `from "${img.from.line}": the config ${img.manifest.config.digest}`
    )
  const config = editConfig(img.config, plan.config, newLayers, plan.created)
  const configDesc = await layout.writeJSON(config, MediaType.ImageConfig)
  const annotations = { ...plan.defaultAnnotations, ...plan.annotations.manifest }
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
  if (plan.platforms.length > 0 || Object.keys(plan.annotations.index).length > 0) return undefined
  return isIndexMediaType(src.source.root.mediaType) ? src : undefined
}

/** Every document and blob below the source's root, its documents written to the layout. */
async function copyGraph(src: OpenedSource, parts: GraphParts, layout: Layout): Promise<void> {
  await walkGraph(
    src.source.root,
    descriptors({
      children: async d => {
        const bytes = await src.source.read(d)
        await layout.writeBuffer(bytes)
        parts.document(d, bytes)
        const doc = parseDocument<{
          manifests?: Descriptor[]
          config?: Descriptor
          layers?: Descriptor[]
        }>(bytes, `${src.line}: ${d.digest}`)
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
  if (entries.length === 1 && Object.keys(plan.annotations.index).length === 0) {
    const { mediaType, digest, size } = entries[0]
    return { mediaType, digest, size }
  }
  const index = makeIndex(entries, { ...plan.defaultAnnotations, ...plan.annotations.index })
  const written = await layout.writeJSON(index, MediaType.ImageIndex)
  const root = { mediaType: MediaType.ImageIndex, digest: written.digest, size: written.size }
  parts.document(root, written.bytes)
  return root
}
