/**
 * Stage 1: open every source a `from` line names and validate it before anything uses it. What
 * cannot be opened is a finding (`source-unreadable`), like anything else wrong with a source.
 */
import type { ImageSource } from '../../oci/blobs.js'
import type { Finding } from '../../oci/finding.js'
import { ScanCache } from '../../oci/scan.js'
import { LadingError } from '../../util/errors.js'
import { Temps } from '../../util/temps.js'
import type { SourceSpec } from '../../transports/spec.js'
import { validateImage, validateLayout } from '../../validate/index.js'
import { finding } from '../../validate/rules.js'
import type { Plan } from '../plan.js'
import type { RunContext } from '../context.js'
import { openSource } from '../sources.js'

export interface OpenedSource {
  source: ImageSource
  /** the `from` line, as the user wrote it */
  line: string
  /** validated without an error: its layout's blobs may be linked without hashing them again */
  verified: boolean
}

export interface OpenedSources {
  sources: OpenedSource[]
  findings: Finding[]
}

/** Opens and validates every source of the plan; scratch has none. The caller closes them. */
export async function openSources(plan: Plan, ctx: RunContext): Promise<OpenedSources> {
  const sources: OpenedSource[] = []
  const findings: Finding[] = []
  for (const f of plan.from) {
    if (f.spec.kind === 'scratch') continue
    const opened = await openAndValidate(f.spec, f.line, plan.auth, ctx)
    for (const w of opened.source?.warnings ?? []) ctx.log.warning(w)
    findings.push(...opened.findings)
    if (!opened.source) continue
    const clean = !opened.findings.some(x => x.severity === 'error')
    sources.push({ source: opened.source, line: f.line, verified: !opened.source.origin && clean })
  }
  return { sources, findings }
}

/**
 * Opens the image a `from` line names and validates it: a layout (or an unpacked archive) with its
 * layout-level rules, anything else from its root. One that cannot be opened is a finding. The
 * caller closes the source. Registry layers are not downloaded unless `checkLayers` says so.
 */
export async function openAndValidate(
  spec: SourceSpec,
  line: string,
  auth: Plan['auth'],
  ctx: Partial<Pick<RunContext, 'scans' | 'temps' | 'secrets' | 'relief'>> = {},
  opts: { checkLayers?: boolean } = {}
): Promise<{ source?: ImageSource; findings: Finding[] }> {
  let source: ImageSource
  try {
    source = await openSource(
      spec,
      line,
      { ...auth, secrets: ctx.secrets, relief: ctx.relief },
      ctx.temps ?? new Temps()
    )
  } catch (err) {
    if (!(err instanceof LadingError)) throw err
    // A layout that cannot be opened usually has layout-level findings that say why.
    const layoutFindings =
      spec.kind === 'oci' ? prefixed(line, (await validateLayout(spec.path)).findings) : []
    return {
      findings: layoutFindings.some(x => x.severity === 'error')
        ? layoutFindings
        : [finding('source-unreadable', line, err.message)]
    }
  }
  const scans = ctx.scans ?? new ScanCache()
  // A docker-archive's layers were read and checked as it was converted: not again.
  for (const [key, scan] of source.scanned ?? []) scans.set(key, Promise.resolve(scan))
  const findings = source.layoutDir
    ? prefixed(line, (await validateLayout(source.layoutDir, { scans })).findings)
    : await validateImage(source, source.root, {
        location: line,
        checkLayers: opts.checkLayers ?? !source.origin,
        scans
      })
  return { source, findings }
}

/** Findings of a source layout, their locations prefixed with the `from` line. */
function prefixed(line: string, found: Finding[]): Finding[] {
  return found.map(f => ({ ...f, location: `${line} ${f.location}` }))
}
