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
import { notPushedMessage, type Outcome, type RunResult } from './result.js'
import { prepareOutput, removeStaleStages, stagingPath } from './output-dir.js'
import { openSources, type OpenedSource } from './stages/open-sources.js'
import { resolvePlatforms, SourceUnreadable, type Resolution } from './stages/resolve-platforms.js'
import { buildLayers, startLayerThreads, type NewLayers } from './stages/build-layers.js'
import { assembleGraph, type Assembled } from './stages/assemble.js'
import { stageLayout, type Staged } from './stages/stage-layout.js'
import { validateOutput } from './stages/validate-output.js'
import { commitOutput } from './stages/commit.js'
import { EarlyPush } from './stages/push.js'
import { LayerCache } from './stages/layer-cache.js'
import { rememberVerdicts } from './stages/remember-verdicts.js'
import { makeAttachments, pushAttachments, type Attachment } from './stages/attach.js'
import { checkAnnotationPlatforms } from './annotations.js'
import { phase } from './phases.js'
import { loadIntoDocker } from './stages/archive.js'

export async function runPlan(plan: Plan, ctx: RunContext): Promise<Outcome> {
  const stage = stagingPath(plan.output)
  ctx.temps.track(stage)
  let opened: OpenedSource[] = []
  let findings: Finding[] = []
  let cache: LayerCache | undefined
  let pushBegun: Promise<EarlyPush | undefined> = Promise.resolve(undefined)
  // Started first, to be ready when the first layer is walked; closed once the layers are built.
  const threads = startLayerThreads(plan)
  try {
    await prepareRun(plan)
    ;({ sources: opened, findings } = await phase(ctx, 'read sources', () =>
      openSources(plan, ctx)
    ))
    const sourceReport = makeReport(findings, plan.failOn)
    // An unreadable source fails the run even at fail-on never: there is nothing to build from.
    if (failed(plan, sourceReport) || findings.some(f => f.rule === 'source-unreadable'))
      return { status: 'invalid', what: 'a source image', report: sourceReport }
    const resolution = await phase(ctx, 'resolve platforms', () => resolvePlatforms(plan, opened))
    const platforms = resolution.images.map(img => img.platform)
    checkAnnotationPlatforms(plan.annotations, platforms)
    const layout = new Layout(stage, { relief: ctx.relief })
    await layout.init()
    cache = LayerCache.start(plan, ctx)
    // The push begins once the cache images are open (it may mount from their repositories);
    // the layers' tars are hashed meanwhile, and a layer built before goes up once it has begun.
    const begun = beginPush(plan, layout, opened, cache, ctx)
    pushBegun = begun
    const newLayers = await phase(ctx, 'build layers', () =>
      buildLayers(
        plan,
        platforms,
        layout,
        ctx,
        {
          reuse: cache && ((l, store, opts) => cache!.reuse(l, store, opts, ctx)),
          built: plan.push
            ? l =>
                void begun.then(
                  p => p?.staged(l.descriptor),
                  () => undefined
                )
            : undefined
        },
        threads
      )
    )
    const push = await begun
    const { assembled, attached, staged } = await phase(ctx, 'assemble', () =>
      assembleAndStage(plan, { resolution, newLayers, opened, layout, cache }, ctx)
    )
    push?.graph(staged.graph)
    findings.push(...(cache?.findingsOf(staged.notDownloaded) ?? []))
    const report = await phase(ctx, 'validate', () =>
      validateOutput(plan, stage, staged.notDownloaded, findings, ctx)
    )
    if (failed(plan, report)) return { status: 'invalid', what: 'the assembled image', report }
    const uploadError = await push?.blobsUp()
    const archive = await phase(ctx, 'write output', () => commitOutput(plan, stage, ctx))
    if (plan.load)
      await phase(ctx, 'load', () => loadIntoDocker(plan, assembled.images.length, ctx))
    await rememberVerdicts(plan.output, staged.graph, ctx)
    const result = resultOf(plan, assembled, staged, archive, report, attached, cache)
    if (!push) return notPushed(plan, result, ctx)
    const attach = () => pushAttachments(plan, attached, staged.graph.root, ctx)
    return await phase(ctx, 'push', () =>
      finishPush(push, staged.graph, result, report, uploadError, attach)
    )
  } catch (err) {
    if (err instanceof SourceUnreadable) return unreadableSource(err, findings, plan)
    throw err
  } finally {
    await threads.close()
    // Manifests and tags go up only from finishPush: any other ending pushes none.
    await (await pushBegun.catch(() => undefined))?.abandon()
    // Gone once committed (swapped into the output); left over from any other ending.
    await ctx.temps.remove(stage).catch(() => undefined)
    for (const s of opened) await s.source.close?.().catch(() => undefined)
    await cache?.close()
  }
}

/** What the assembly needs: the platforms' images, the new layers, the sources, the layout. */
interface AssemblyInput {
  resolution: Resolution
  newLayers: NewLayers
  opened: OpenedSource[]
  layout: Layout
  cache?: LayerCache
}

/** The result's graph assembled, the files to attach made, and the layout completed. */
async function assembleAndStage(plan: Plan, input: AssemblyInput, ctx: RunContext) {
  const { resolution, newLayers, opened, layout, cache } = input
  const assembled = await assembleGraph(plan, resolution, newLayers, opened, layout)
  if (!assembled.copiedWhole) for (const n of resolution.notes) ctx.log.info(n)
  for (const d of assembled.dropped) ctx.log.warning(d)
  const attached = await makeAttachments(plan, assembled.graph.root, layout)
  const graph = cache ? cache.relocate(assembled.graph) : assembled.graph
  const referrers = attached.map(a => a.entry)
  const staged = await stageLayout(plan, graph, layout, ctx, referrers)
  return { assembled, attached, staged }
}

function resultOf(
  plan: Plan,
  assembled: Assembled,
  staged: Staged,
  archive: string | undefined,
  report: Report,
  attached: Attachment[],
  cache: LayerCache | undefined
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
    notDownloaded: staged.notDownloaded,
    fromCache: cache?.taken() ?? [],
    attached: attached.map(a => a.entry.digest),
    dropped: assembled.dropped
  }
}

/**
 * The manifests and tags, once the report passed, then the attachments that refer to the image;
 * a failed upload or push is the outcome.
 */
async function finishPush(
  push: EarlyPush,
  graph: ImageGraph,
  result: RunResult,
  report: Report,
  uploadError: LadingError | undefined,
  attach: () => Promise<void>
): Promise<Outcome> {
  try {
    if (uploadError) throw uploadError
    const pushed = await push.finish(graph)
    await attach()
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

/**
 * The push to the plan's tags, mounting from the sources' and the cache images' repositories;
 * none when the plan does not push. Its failure to begin reaches the run after the builds.
 */
function beginPush(
  plan: Plan,
  layout: Layout,
  opened: OpenedSource[],
  cache: LayerCache | undefined,
  ctx: RunContext
): Promise<EarlyPush | undefined> {
  if (!plan.push) return Promise.resolve(undefined)
  const begun = (async () => {
    const fromSources = opened.flatMap(s => (s.source.origin ? [s.source.origin] : []))
    const mountFrom: RegistryOrigin[] = [...fromSources, ...((await cache?.origins()) ?? [])]
    return EarlyPush.begin(plan, layout, mountFrom, ctx)
  })()
  begun.catch(() => undefined)
  return begun
}

/** The output's place made ready, stale staging dirs and an earlier run's report removed. */
async function prepareRun(plan: Plan): Promise<void> {
  await prepareOutput(plan)
  await removeStaleStages(path.dirname(plan.output), path.basename(plan.output))
  // A report left by an earlier run must not pass for this run's.
  await fs.rm(reportPath(plan.output), { force: true }).catch(() => undefined)
}

/**
 * A run that was not asked to push. With tags given, the log says so, lest a workflow ported from
 * a `push`-by-default era believe its tags were pushed.
 */
function notPushed(plan: Plan, result: RunResult, ctx: RunContext): Outcome {
  const tags = plan.tags.map(t => formatReference(t))
  if (tags.length) {
    ctx.log.info(notPushedMessage(tags))
    result.notPushedTo = tags
  }
  return { status: 'ok', result, report: result.report }
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
