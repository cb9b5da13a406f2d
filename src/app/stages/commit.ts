/**
 * Stage 7: the validated layout committed: the archive written from it (so a failure leaves the
 * old output in place), then the staging directory swapped into `output`.
 */
import { LadingError, messageOf } from '../../util/errors.js'
import { writeOciArchive } from '../../transports/archive-writer.js'
import type { Plan } from '../plan.js'
import type { RunContext } from '../context.js'
import { swapInto } from '../output-dir.js'

/** Returns the archive written, if one was asked for. */
export async function commitOutput(
  plan: Plan,
  stage: string,
  ctx: RunContext
): Promise<string | undefined> {
  if (plan.archive) {
    try {
      await writeOciArchive(stage, plan.archive, ctx.temps)
    } catch (err) {
      throw err instanceof LadingError
        ? err
        : new LadingError(`archive: could not write ${plan.archive}: ${messageOf(err)}`)
    }
  }
  await swapInto(stage, plan.output)
  ctx.temps.untrack(stage)
  return plan.archive
}
