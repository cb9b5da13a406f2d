import * as core from '@actions/core'
import type { RunResult } from '../app/result.js'
import type { Report } from '../validate/index.js'
import { humanSize } from '../app/outputs.js'
import type { PhaseTiming } from '../app/context.js'
import { notPushedMessage } from '../app/result.js'
import { humanDuration } from '../util/progress.js'

function esc(s: string): string {
  return s.replace(
    /[|<>&]/g,
    c => ({ '|': '\\|', '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c] as string
  )
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
      `## Lading: ${r.platforms.length > 1 ? 'multi-platform image' : 'image'} \`${r.digest}\``,
      ''
    )
    out.push(`- **Media type:** \`${r.mediaType}\``)
    out.push(`- **Platforms:** ${r.platforms.map(p => `\`${p}\``).join(', ')}`)
    if (r.layout) out.push(`- **Layout:** \`${r.layout}\``)
    if (r.archive) out.push(`- **Archive:** \`${r.archive}\``)
    if (r.imageRefs.length) out.push(`- **Pushed:** ${r.imageRefs.map(x => `\`${x}\``).join(', ')}`)
    if (r.notPushedTo?.length) out.push(`- **Not pushed:** ${esc(notPushedMessage(r.notPushedTo))}`)
    if (r.pushed)
      out.push(
        `- **Blobs:** ${r.pushed.uploaded} uploaded (${humanSize(r.pushed.bytesUploaded)}), ${r.pushed.mounted} mounted, ${r.pushed.skipped} already there`
      )
    if (r.attached.length) out.push(`- **Attached:** ${r.attached.map(x => `\`${x}\``).join(', ')}`)
    for (const d of r.dropped) out.push(`- **Attestation dropped:** ${esc(d)}`)
    if (r.notDownloaded.length)
      out.push(
        `- **Not downloaded:** ${r.notDownloaded.length} base layer(s) were not written to the layout: they were mounted from their repository, or streamed straight from their registry to the target`
      )
    out.push('')
    for (const img of r.images) {
      const total = img.layers.reduce((n, l) => n + l.size, 0)
      out.push(`### \`${img.platform}\` — \`${img.digest}\``, '')
      out.push(
        `Config \`${img.configDigest}\`; ${img.layers.length} layer(s), ${humanSize(total)} compressed; from ${img.source === 'scratch' ? 'scratch' : `\`${img.source}\``}.`,
        ''
      )
      out.push('| # | Layer | Size | Media type |', '|---|---|---|---|')
      img.layers.forEach((l, i) =>
        out.push(
          `| ${i + 1} | \`${l.digest.slice(0, 19)}…\` | ${humanSize(l.size)} | \`${l.mediaType}\` |`
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
        `| ${f.severity} | [\`${f.rule}\`](${f.spec}) | ${esc(f.location)} | ${esc(f.message)} |`
      )
    if (report.findings.length > 200)
      out.push('', `…and ${report.findings.length - 200} more in the report file.`)
    out.push('')
  }
  return out.join('\n')
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
    ...timings.map(t => `| ${esc(t.name)} | ${humanDuration(t.ms)} |`),
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
  await core.summary.addRaw(summaryMarkdown(r, report, timings), true).write()
}

/** One annotation per finding, titled with its rule id. */
export function annotate(report: Report): void {
  for (const f of report.findings.slice(0, 100)) {
    const msg = `${f.location}: ${f.message} (${f.spec})`
    if (f.severity === 'error') core.error(msg, { title: f.rule })
    else if (f.severity === 'warning') core.warning(msg, { title: f.rule })
  }
}
