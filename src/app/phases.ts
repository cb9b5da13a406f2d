/**
 * The phases of a run as the log shows them: each in a group (a collapsible log group in the
 * action, a header line in the CLI) closed by its duration, which the job summary lists too.
 */
import { humanDuration } from '../util/progress.js'
import type { RunContext } from './context.js'

export async function phase<T>(ctx: RunContext, name: string, work: () => Promise<T>): Promise<T> {
  const start = ctx.now()
  if (ctx.log.startGroup) ctx.log.startGroup(name)
  else ctx.log.info(`== ${name}`)
  let ok = false
  try {
    const out = await work()
    ok = true
    return out
  } finally {
    const ms = ctx.now() - start
    ctx.timings.push({ name, ms })
    ctx.log.info(`${name}: ${ok ? 'done' : 'stopped'} in ${humanDuration(ms)}`)
    ctx.log.endGroup?.()
  }
}
