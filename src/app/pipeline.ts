/**
 * One run: open sources → resolve platforms → build layers → assemble the graph → stage the layout
 * → validate → commit the output → push. Each stage is a module of ./stages with typed input and
 * output; this function only runs them in order and turns their results into an Outcome. A push
 * begins early: blobs go up as they are built and staged, while the layout is validated; the
 * manifests and tags only once the report passed.
 * Exceptions are for usage errors and bugs; a bad image is an outcome.
 */
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import type { Finding } from '../oci/finding.js'
import type { RegistryOrigin } from '../oci/blobs.js'
import type { ImageGraph } from '../oci/graph.js'
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
import { assembleGraph, type Assembled } from './stages/assemble.js'
import { stageLayout, type Staged } from './stages/stage-layout.js'
import { validateOutput } from './stages/validate-output.js'
import { commitOutput } from './stages/commit.js'
import { EarlyPush } from './stages/push.js'
import { LayerCache } from './stages/layer-cache.js'
import { rememberVerdicts } from './stages/remember-verdicts.js'

export async function runPlan(plan: Plan, ctx: RunContext): Promise<Outcome> {
  const stage = stagingPath(plan.output)
  ctx.temps.track(stage)
  let opened: OpenedSource[] = []
  let findings: Finding[] = []
  let cache: LayerCache | undefined
  let push: EarlyPush | undefined
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
    cache = await LayerCache.open(plan, ctx)
    push = EarlyPush.begin(plan, layout, mountOrigins(opened, cache), ctx)
    const newLayers = await buildLayers(plan, layout, ctx, {
      reuse: cache && ((l, store, opts) => cache!.reuse(l, store, opts, ctx)),
      built: push && (l => push!.staged(l.descriptor))
    })
    const assembled = await assembleGraph(plan, resolution, newLayers, opened, layout)
    if (!assembled.copiedWhole) for (const n of resolution.notes) ctx.log.info(n)
    const graph = cache ? cache.relocate(assembled.graph) : assembled.graph
    const staged = await stageLayout(plan, graph, layout, ctx)
    push?.graph(staged.graph)
    findings.push(...(cache?.findingsOf(staged.notDownloaded) ?? []))
    const report = await validateOutput(plan, stage, staged.notDownloaded, findings, ctx)
    if (failed(plan, report)) return { status: 'invalid', what: 'the assembled image', report }
    const uploadError = await push?.blobsUp()
    const archive = await commitOutput(plan, stage, ctx)
    await rememberVerdicts(plan.output, staged.graph, ctx)
    const result = resultOf(plan, assembled, staged, archive, report)
    if (!push) return { status: 'ok', result, report }
    return await finishPush(push, staged.graph, result, report, uploadError)
  } catch (err) {
    if (err instanceof SourceUnreadable) return unreadableSource(err, findings, plan)
    throw err
  } finally {
    // Manifests and tags go up only from finishPush: any other ending pushes none.
    await push?.abandon()
    // Gone once committed (swapped into the output); left over from any other ending.
    await ctx.temps.remove(stage).catch(() => undefined)
    for (const s of opened) await s.source.close?.().catch(() => undefined)
    await cache?.close()
  }
}

function resultOf(
  plan: Plan,
  assembled: Assembled,
  staged: Staged,
  archive: string | undefined,
  report: Report
): RunResult {
  const root = staged.graph.root
  return {
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
}

/** The manifests and tags, once the report passed; a failed upload or push is the outcome. */
async function finishPush(
  push: EarlyPush,
  graph: ImageGraph,
  result: RunResult,
  report: Report,
  uploadError: LadingError | undefined
): Promise<Outcome> {
  try {
    if (uploadError) throw uploadError
    const pushed = await push.finish(graph)
    return {
      status: 'ok',
      result: { ...result, imageRefs: pushed.refs, pushed: pushed.summary },
      report
    }
  } catch (err) {
    if (!(err instanceof LadingError)) throw err
    return { status: 'push-failed', result, report, message: err.message }
  }
}

/** Where blobs of this run may be mounted from: the registry sources and cached images. */
function mountOrigins(opened: OpenedSource[], cache: LayerCache | undefined): RegistryOrigin[] {
  const fromSources = opened.flatMap(s => (s.source.origin ? [s.source.origin] : []))
  return [...fromSources, ...(cache?.origins() ?? [])]
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
