/**
 * Stage 7: the validated layout committed: the archive written from it (so a failure leaves the
 * old output in place), then the staging directory swapped into `output`.
 */
import type { Plan } from '../plan.js'
import type { RunContext } from '../context.js'
import { swapInto } from '../output-dir.js'
import { writeArchive } from './archive.js'

/** Returns the archive written, if one was asked for. */
export async function commitOutput(
  plan: Plan,
  stage: string,
  ctx: RunContext
): Promise<string | undefined> {
  if (plan.archive) await writeArchive(plan, stage, plan.archive, plan.archiveFormat, ctx)
  await swapInto(stage, plan.output)
  ctx.temps.untrack(stage)
  return plan.archive
}
