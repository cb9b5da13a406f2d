import * as core from '@actions/core'
import type { RunResult } from '../app/result.js'
import type { Report } from '../validate/index.js'
import { humanSize } from '../app/outputs.js'
import type { PhaseTiming } from '../app/context.js'
import { notPushedMessage } from '../app/result.js'
import { humanDuration } from '../util/progress.js'

/**
 * Line breaks of every kind a Markdown renderer or a browser may honour: one in a table cell ends
 * the row, one in a list item can start a heading. Text from an image is flattened to one line.
 */
const LINE_BREAKS = /\r\n|[\r\n\u0085\u2028\u2029]/g

/** Text from an image or the inputs as one line. */
export function oneLine(s: string): string {
  return s.replace(LINE_BREAKS, ' ')
}

/**
 * Text from an image or the inputs as literal Markdown text: one line, every punctuation mark
 * Markdown gives a meaning to backslash-escaped, and HTML's own characters as entities (a
 * backslash does not stop a tag).
 */
export function mdText(s: string): string {
  return oneLine(s).replace(/[<>&]|[\\`*_{}[\]()#+\-.!|~:]/g, c =>
    c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : `\\${c}`
  )
}

/** What a code span can hold as it is: no backtick, no HTML, no cell separator, no escape. */
const CODE_SAFE = /^[^`<>&|\\\r\n\u0085\u2028\u2029]*$/

/**
 * A code span for the digests, media types, platforms and references that look as they should;
 * anything else as escaped text. Code spans cannot escape: a backtick in the text would end
 * one, and an HTML tag begun inside one may end after it (CommonMark gives tags precedence).
 */
export function mdCode(s: string): string {
  return CODE_SAFE.test(s) ? `\`${s}\`` : mdText(s)
}

/** The job summary: what was built, its layers, where it went, and the findings. */
export function summaryMarkdown(
  r: RunResult | undefined,
  report: Report,
  timings: PhaseTiming[] = []
): string {
  const out: string[] = []
  if (r) {
    out.push(
      `## Lading: ${r.platforms.length > 1 ? 'multi-platform image' : 'image'} ${mdCode(r.digest)}`,
      ''
    )
    out.push(`- **Media type:** ${mdCode(r.mediaType)}`)
    out.push(`- **Platforms:** ${r.platforms.map(p => mdCode(p)).join(', ')}`)
    if (r.layout) out.push(`- **Layout:** ${mdCode(r.layout)}`)
    if (r.archive) out.push(`- **Archive:** ${mdCode(r.archive)}`)
    if (r.imageRefs.length) out.push(`- **Pushed:** ${r.imageRefs.map(x => mdCode(x)).join(', ')}`)
    if (r.notPushedTo?.length)
      out.push(`- **Not pushed:** ${mdText(notPushedMessage(r.notPushedTo))}`)
    if (r.pushed)
      out.push(
        `- **Blobs:** ${r.pushed.uploaded} uploaded (${humanSize(r.pushed.bytesUploaded)}), ${r.pushed.mounted} mounted, ${r.pushed.skipped} already there`
      )
    for (const [image, digests] of byImage(r.fromCache ?? []))
      out.push(
        `- **From the cache:** ${digests.length} layer(s) taken from ${mdCode(image)}, not built again: ${digests.map(d => mdCode(`${d.slice(0, 19)}…`)).join(', ')}`
      )
    if (r.attached.length) out.push(`- **Attached:** ${r.attached.map(x => mdCode(x)).join(', ')}`)
    for (const d of r.dropped) out.push(`- **Attestation dropped:** ${mdText(d)}`)
    if (r.notDownloaded.length)
      out.push(
        `- **Not downloaded:** ${r.notDownloaded.length} layer(s) of a base image or the cache were not written to the layout: they were mounted from their repository, or streamed straight from their registry to the target`
      )
    out.push('')
    for (const img of r.images) {
      const total = img.layers.reduce((n, l) => n + l.size, 0)
      out.push(`### ${mdCode(img.platform)} — ${mdCode(img.digest)}`, '')
      out.push(
        `Config ${mdCode(img.configDigest)}; ${img.layers.length} layer(s), ${humanSize(total)} compressed; from ${img.source === 'scratch' ? 'scratch' : mdCode(img.source)}.`,
        ''
      )
      out.push('| # | Layer | Size | Media type |', '|---|---|---|---|')
      img.layers.forEach((l, i) =>
        out.push(
          `| ${i + 1} | ${mdCode(`${l.digest.slice(0, 19)}…`)} | ${humanSize(l.size)} | ${mdCode(l.mediaType)} |`
        )
      )
      out.push('')
    }
  }
  out.push(...timingLines(timings))
  out.push(
    `### Validation: ${report.valid ? 'passed' : 'failed'} (${report.errors} error(s), ${report.warnings} warning(s))`,
    ''
  )
  if (report.findings.length) {
    out.push('| Severity | Rule | Where | Finding |', '|---|---|---|---|')
    for (const f of report.findings.slice(0, 200))
      out.push(
        `| ${f.severity} | [${mdCode(f.rule)}](${f.spec}) | ${mdText(f.location)} | ${mdText(f.message)} |`
      )
    if (report.findings.length > 200)
      out.push('', `…and ${report.findings.length - 200} more in the report file.`)
    out.push('')
  }
  return out.join('\n')
}

/** The layers taken from the cache, grouped by the image they came from, in the order taken. */
function byImage(taken: Array<{ digest: string; image: string }>): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const { digest, image } of taken) {
    const digests = out.get(image)
    if (digests) digests.push(digest)
    else out.set(image, [digest])
  }
  return out
}

/** How long each phase took, and the whole run. */
function timingLines(timings: PhaseTiming[]): string[] {
  if (!timings.length) return []
  const total = timings.reduce((n, t) => n + t.ms, 0)
  return [
    '### Timings',
    '',
    '| Phase | Duration |',
    '|---|---|',
    ...timings.map(t => `| ${mdText(t.name)} | ${humanDuration(t.ms)} |`),
    `| **total** | **${humanDuration(total)}** |`,
    ''
  ]
}

export async function writeSummary(
  r: RunResult | undefined,
  report: Report,
  timings: PhaseTiming[] = []
): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return
  await core.summary.addRaw(summaryMarkdown(r, report, timings)).write()
}

/** One annotation per finding, titled with its rule id. */
export function annotate(report: Report): void {
  for (const f of report.findings.slice(0, 100)) {
    // Annotations are plain text on one line each: a line break from an image would split them.
    const msg = oneLine(`${f.location}: ${f.message} (${f.spec})`)
    if (f.severity === 'error') core.error(msg, { title: f.rule })
    else if (f.severity === 'warning') core.warning(msg, { title: f.rule })
  }
}
