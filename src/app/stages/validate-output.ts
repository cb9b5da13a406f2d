/**
 * Stage 6: the staged layout validated before anything leaves the machine. Blobs the run already
 * read and checked (a source's, a layer as it was built) are taken from the run's scans, not read
 * again.
 */
import type { Finding } from '../../oci/finding.js'
import { dedupeFindings, makeReport, validateLayout, type Report } from '../../validate/index.js'
import type { Plan } from '../plan.js'
import type { RunContext } from '../context.js'

export async function validateOutput(
  plan: Plan,
  stage: string,
  notDownloaded: string[],
  sourceFindings: Finding[],
  ctx: RunContext
): Promise<Report> {
  const { scans } = ctx
  const readBefore = scans.reads
  const reusedBefore = scans.reused
  const out = await validateLayout(stage, {
    requireAllBlobs: plan.push,
    notDownloaded: new Set(notDownloaded),
    scans
  })
  ctx.log.info(
    `validated the assembled layout: ${scans.reads - readBefore} blob(s) read, ` +
      `${scans.reused - reusedBefore} already checked in this run (built, or read in a source)`
  )
  // Counted over the whole run: a source layout's blobs are taken when the source is validated.
  if (scans.fromEarlierSteps)
    ctx.log.info(
      `${scans.fromEarlierSteps} blob(s) of this run were checked by an earlier Lading step ` +
        'of this job and are unchanged since: taken from its verdicts, not read again'
    )
  return makeReport(dedupeFindings([...sourceFindings, ...out.findings]), plan.failOn)
}
