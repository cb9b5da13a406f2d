import * as core from '@actions/core'
import { Secrets } from '../util/secrets.js'
import { LadingError } from '../util/errors.js'
import { commandFree } from '../util/listing.js'
import { inputsFromEnv } from '../app/inputs.js'
import { makePlan, reportPath, type Plan } from '../app/plan.js'
import { runPlan } from '../app/pipeline.js'
import { cleanUpOnSignals, newRunContext, type PhaseTiming } from '../app/context.js'
import { invalidMessage, pushFailedMessage, type RunResult } from '../app/result.js'
import { outputsOf, writeReport } from '../app/outputs.js'
import { annotate, writeSummary } from './summary.js'
import { makeReport, type Report } from '../validate/index.js'

/** Masks every credential the inputs carry, and the base64 forms registries see, before any log. */
export function maskSecrets(env: NodeJS.ProcessEnv): Secrets {
  const secrets = new Secrets(v => core.setSecret(v))
  const user = env['INPUT_USERNAME']?.trim() ?? ''
  for (const name of ['INPUT_PASSWORD', 'INPUT_GITHUB-TOKEN']) {
    const v = env[name]
    if (!v) continue
    secrets.add(v)
    secrets.add(v.trim())
    secrets.add(Buffer.from(`${user}:${v.trim()}`).toString('base64'))
    secrets.add(Buffer.from(`x-access-token:${v.trim()}`).toString('base64'))
  }
  return secrets
}

/** A log line. core.warning and core.error escape what they carry; core.info writes it as it is. */
function info(message: string): void {
  core.info(commandFree(message))
}

function setOutputs(result: RunResult): void {
  for (const [name, value] of Object.entries(outputsOf(result))) core.setOutput(name, value)
  info(
    `${result.platforms.length > 1 ? 'index' : 'image'} ${result.digest} (${result.platforms.join(', ')}) written to ${result.layout}`
  )
  for (const r of result.imageRefs) info(`pushed ${r}`)
}

/** The action: inputs → plan → pipeline → outputs, summary, annotations. */
export async function run(): Promise<void> {
  const ctx = newRunContext(
    {
      info,
      warning: m => core.warning(m),
      startGroup: name => core.startGroup(name),
      endGroup: () => core.endGroup()
    },
    maskSecrets(process.env)
  )
  const release = cleanUpOnSignals(ctx)
  let plan: Plan | undefined
  let report: Report | undefined
  let result: RunResult | undefined
  try {
    plan = makePlan(inputsFromEnv(process.env))
    const outcome = await runPlan(plan, ctx)
    report = outcome.report
    if (outcome.status === 'invalid') core.setFailed(invalidMessage(outcome.what, report))
    else {
      // Built, validated and written even when the push failed: the outputs say what exists.
      result = outcome.result
      setOutputs(result)
      if (outcome.status === 'push-failed')
        core.setFailed(pushFailedMessage(result, outcome.message))
    }
  } catch (err) {
    core.setFailed(
      err instanceof LadingError
        ? err.message
        : `internal error (please report it): ${err instanceof Error ? err.stack : String(err)}`
    )
  } finally {
    release()
    if (plan) await finish(plan, result, report ?? makeReport([], plan.failOn), ctx.timings)
    else core.setOutput('valid', 'false')
  }
}

/** The report file, `valid`, the annotations and the job summary, whatever the outcome. */
async function finish(
  plan: Plan,
  result: RunResult | undefined,
  report: Report,
  timings: PhaseTiming[]
): Promise<void> {
  const file = reportPath(plan.output)
  try {
    await writeReport(file, report)
    core.setOutput('report', file)
  } catch (e) {
    core.warning(`could not write the report to ${file}: ${(e as Error).message}`)
  }
  core.setOutput('valid', String(result !== undefined && report.valid))
  annotate(report)
  if (!plan.summary) return
  await writeSummary(result, report, timings).catch(e =>
    core.warning(`could not write the job summary: ${(e as Error).message}`)
  )
}
