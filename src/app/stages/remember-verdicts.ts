/**
 * After the commit: the scans of the output's blobs (a layer checked as it was built, a base blob
 * checked in its source) kept as verdicts on the committed files, so that a later step of the
 * job reading this layout does not read them again to check them. Never fails the run.
 */
import type { ImageGraph } from '../../oci/graph.js'
import { digestOfScanKey, isCompleteScan } from '../../oci/scan.js'
import { blobPathIn } from '../../transports/layout.js'
import type { RunContext } from '../context.js'

export async function rememberVerdicts(
  output: string,
  graph: ImageGraph,
  ctx: RunContext
): Promise<void> {
  const verdicts = ctx.scans.verdicts
  if (!verdicts) return
  const inLayout = new Set(
    [...graph.blobs.values()]
      .filter(b => b.location.kind === 'layout')
      .map(b => b.descriptor.digest)
  )
  for (const [key, pending] of ctx.scans.entries()) {
    const digest = digestOfScanKey(key)
    if (!inLayout.has(digest)) continue
    const scan = await pending.catch(() => undefined)
    if (!scan || !isCompleteScan(scan, digest)) continue
    const file = await verdicts.identify(blobPathIn(output, digest))
    if (file) await verdicts.record(key, digest, file, scan)
  }
}
