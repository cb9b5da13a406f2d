/**
 * Stage 5: the staged layout made complete. Base blobs are copied in (linked when their source
 * was validated clean), except registry layers when pushing without an archive: those are mounted
 * or streamed by the push instead, never downloaded. Then index.json names the root, and lists
 * after it the artifacts attached to it (`referrers`), which are in the layout already.
 */
import type { Descriptor } from '../../oci/types.js'
import { Annotation } from '../../oci/types.js'
import { ImageGraph, type GraphBlob } from '../../oci/graph.js'
import { LadingError } from '../../util/errors.js'
import type { Layout } from '../../transports/layout.js'
import type { Plan } from '../plan.js'
import type { RunContext } from '../context.js'
import { SourceUnreadable } from './resolve-platforms.js'

export interface Staged {
  /** the same graph, its blobs now in the layout but for those left where they are */
  graph: ImageGraph
  /** digests of the blobs left in their registry (or in a layout that lacked them) */
  notDownloaded: string[]
}

export async function stageLayout(
  plan: Plan,
  graph: ImageGraph,
  layout: Layout,
  ctx: RunContext,
  referrers: Descriptor[] = []
): Promise<Staged> {
  const blobs = new Map<string, GraphBlob>()
  const notDownloaded: string[] = []
  // When pushing, registry layers stay where they are, and so do layers a layout Lading wrote
  // while pushing left out; an archive (or an image for docker load) must be complete, though.
  const lazy = plan.push && !plan.archive && !plan.load
  for (const [digest, blob] of graph.blobs) {
    const staged = await stageBlob(blob, layout, lazy, ctx)
    if (staged.location.kind === 'source') notDownloaded.push(digest)
    blobs.set(digest, staged)
  }
  // The root's descriptor annotations (index-descriptor) beside its ref name; then the referrers.
  const annotations = { ...graph.root.annotations, [Annotation.RefName]: plan.refName }
  await layout.writeIndex([{ ...graph.root, annotations }, ...referrers])
  await layout.finish()
  return { graph: new ImageGraph(graph.root, graph.documents, blobs), notDownloaded }
}

async function stageBlob(
  blob: GraphBlob,
  layout: Layout,
  lazy: boolean,
  ctx: RunContext
): Promise<GraphBlob> {
  const loc = blob.location
  if (loc.kind === 'layout') return blob
  const inLayout: GraphBlob = { ...blob, location: { kind: 'layout' } }
  if (await layout.has(blob.descriptor)) return inLayout
  const reader = loc.reader
  if (lazy && reader.origin) return blob
  const present = await reader.has(blob.descriptor)
  if (lazy && !present) return blob
  if (!present) throw missing(blob.descriptor, reader.name)
  try {
    if (loc.verified && reader.fileOf) {
      // Its digest was checked when the source was validated: link or copy the file, no re-hash.
      await layout.linkOrCopy(reader.fileOf(blob.descriptor.digest), blob.descriptor.digest)
    } else {
      const d = blob.descriptor
      ctx.log.info(`copying ${d.mediaType} ${d.digest} from ${reader.name}`)
      await layout.writeStream(await reader.open(d), d, `blob ${d.digest} from ${reader.name}`)
    }
  } catch (err) {
    if (err instanceof LadingError) throw new SourceUnreadable(reader.name, err.message)
    throw err
  }
  return inLayout
}

function missing(d: Descriptor, where: string): SourceUnreadable {
  return new SourceUnreadable(
    where,
    `blob ${d.digest} (${d.mediaType}) is missing, so the image cannot be completed ` +
      '(a layout Lading wrote while pushing leaves registry base layers out: build it ' +
      'again without pushing, or use the registry image itself as the base)'
  )
}
