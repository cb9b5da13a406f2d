/**
 * Stage 8: the committed image pushed to every tag's repository. Blobs in the layout are read from
 * the committed output; blobs left in their registry are mounted or streamed from there.
 */
import type { ImageGraph } from '../../oci/graph.js'
import { Layout } from '../../transports/layout.js'
import { pushImage, type PushBlob } from '../../registry/index.js'
import type { Plan } from '../plan.js'
import type { RunContext } from '../context.js'
import type { PushSummary } from '../result.js'

export async function pushGraph(
  plan: Plan,
  graph: ImageGraph,
  ctx: RunContext
): Promise<{ refs: string[]; summary: PushSummary }> {
  const output = new Layout(plan.output, { relief: ctx.relief })
  const blobs: PushBlob[] = [...graph.blobs.values()].map(b => ({
    descriptor: b.descriptor,
    reader: b.location.kind === 'layout' ? output : b.location.reader,
    origin: b.origin
  }))
  const manifests = await graph.pushOrder()
  const res = await pushImage(
    { targets: plan.tags, root: graph.root, manifests, blobs, pushByDigest: plan.pushByDigest },
    {
      ...plan.auth,
      secrets: ctx.secrets,
      relief: ctx.relief,
      mounts: ctx.mounts,
      progress: ctx.progress,
      log: m => ctx.log.info(m)
    }
  )
  const { uploaded, mounted, skipped, bytesUploaded } = res
  return { refs: res.refs, summary: { uploaded, mounted, skipped, bytesUploaded } }
}
