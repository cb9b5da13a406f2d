/**
 * One run: open sources → resolve platforms → build layers → assemble the graph → stage the layout
 * → validate → commit the output → push. Each stage is a module of ./stages with typed input and
 * output; this function only runs them in order and turns their results into an Outcome.
 * Exceptions are for usage errors and bugs; a bad image is an outcome.
 */
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import type { Finding } from '../oci/finding.js'
import { formatReference, repositoryName } from '../oci/reference.js'
import { LadingError } from '../util/errors.js'
import { Layout } from '../transports/layout.js'
import { dedupeFindings, makeReport, type Report } from '../validate/index.js'
import { finding } from '../validate/rules.js'
import { reportPath, type Plan } from './plan.js'
import type { RunContext } from './context.js'
import type { Outcome, RunResult } from './result.js'
import { prepareOutput, removeStaleStages, stagingPath } from './output-dir.js'
import { openSources, type OpenedSource } from './stages/open-sources.js'
import { resolvePlatforms, SourceUnreadable } from './stages/resolve-platforms.js'
import { buildLayers } from './stages/build-layers.js'
import { assembleGraph } from './stages/assemble.js'
import { stageLayout } from './stages/stage-layout.js'
import { validateOutput } from './stages/validate-output.js'
import { commitOutput } from './stages/commit.js'
import { pushGraph } from './stages/push.js'
import { loadIntoDocker } from './stages/archive.js'

export async function runPlan(plan: Plan, ctx: RunContext): Promise<Outcome> {
  const stage = stagingPath(plan.output)
  ctx.temps.track(stage)
  let opened: OpenedSource[] = []
  let findings: Finding[] = []
  try {
    await prepareRun(plan)
    ;({ sources: opened, findings } = await openSources(plan, ctx))
    const sourceReport = makeReport(findings, plan.failOn)
    // An unreadable source fails the run even at fail-on never: there is nothing to build from.
    if (failed(plan, sourceReport) || findings.some(f => f.rule === 'source-unreadable'))
      return { status: 'invalid', what: 'a source image', report: sourceReport }
    const resolution = await resolvePlatforms(plan, opened)
    const layout = new Layout(stage, { relief: ctx.relief })
    await layout.init()
    const newLayers = await buildLayers(plan, layout, ctx)
    const assembled = await assembleGraph(plan, resolution, newLayers, opened, layout)
    if (!assembled.copiedWhole) for (const n of resolution.notes) ctx.log.info(n)
    const staged = await stageLayout(plan, assembled.graph, layout, ctx)
    const report = await validateOutput(plan, stage, staged.notDownloaded, findings, ctx)
    if (failed(plan, report)) return { status: 'invalid', what: 'the assembled image', report }
    const archive = await commitOutput(plan, stage, ctx)
    if (plan.load) await loadIntoDocker(plan, assembled.images.length, ctx)
    const root = staged.graph.root
    const result: RunResult = {
      digest: root.digest,
      mediaType: root.mediaType,
      size: root.size,
      configDigest: assembled.images.length === 1 ? assembled.images[0].configDigest : undefined,
      platforms: assembled.images.map(r => r.platform),
      images: assembled.images,
      layout: plan.output,
      archive,
      imageRefs: [],
      imageName: imageNameOf(plan),
      report,
      notDownloaded: staged.notDownloaded
    }
    if (!plan.push) return { status: 'ok', result, report }
    try {
      const pushed = await pushGraph(plan, staged.graph, ctx)
      return {
        status: 'ok',
        result: { ...result, imageRefs: pushed.refs, pushed: pushed.summary },
        report
      }
    } catch (err) {
      if (!(err instanceof LadingError)) throw err
      return { status: 'push-failed', result, report, message: err.message }
    }
  } catch (err) {
    if (err instanceof SourceUnreadable) return unreadableSource(err, findings, plan)
    throw err
  } finally {
    // Gone once committed (swapped into the output); left over from any other ending.
    await ctx.temps.remove(stage).catch(() => undefined)
    for (const s of opened) await s.source.close?.().catch(() => undefined)
  }
}

/** The output's place made ready, stale staging dirs and an earlier run's report removed. */
async function prepareRun(plan: Plan): Promise<void> {
  await prepareOutput(plan)
  await removeStaleStages(path.dirname(plan.output), path.basename(plan.output))
  // A report left by an earlier run must not pass for this run's.
  await fs.rm(reportPath(plan.output), { force: true }).catch(() => undefined)
}

function failed(plan: Plan, report: Report): boolean {
  return plan.failOn !== 'never' && !report.valid
}

/**
 * A source that could not be read to the end is a validation failure like any other: the report
 * keeps what was found so far and names what could not be read.
 */
function unreadableSource(err: SourceUnreadable, findings: Finding[], plan: Plan): Outcome {
  const all = dedupeFindings([...findings, finding('source-unreadable', err.line, err.message)])
  return { status: 'invalid', what: 'a source image', report: makeReport(all, plan.failOn) }
}

function imageNameOf(plan: Plan): string {
  return plan.pushByDigest
    ? [...new Set(plan.tags.map(t => repositoryName(t)))].join(',')
    : plan.tags.map(t => formatReference(t)).join(',')
}
