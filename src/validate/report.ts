import type { Finding } from './rules.js'

export interface Report {
  valid: boolean
  errors: number
  warnings: number
  findings: Finding[]
}

/** valid: no error (failOn 'error'), no error or warning (failOn 'warning'), always (failOn 'never'); info findings never count. */
export function makeReport(
  findings: Finding[],
  failOn: 'error' | 'warning' | 'never' = 'error'
): Report {
  const errors = findings.filter(f => f.severity === 'error').length
  const warnings = findings.filter(f => f.severity === 'warning').length
  const valid =
    failOn === 'never' ? true : failOn === 'warning' ? errors + warnings === 0 : errors === 0
  return { valid, errors, warnings, findings }
}

export function formatReport(report: Report): string {
  const lines = report.findings.map(
    f => `${f.severity.padEnd(7)} ${f.rule}  ${f.location}: ${f.message}`
  )
  const plural = (n: number, w: string): string => `${n} ${w}${n === 1 ? '' : 's'}`
  lines.push(
    `${report.valid ? 'valid' : 'invalid'}: ${plural(report.errors, 'error')}, ${plural(report.warnings, 'warning')}`
  )
  return lines.join('\n')
}
