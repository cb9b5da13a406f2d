import type { Finding } from './rules.js'

/** The least severe finding that makes a report invalid; `never` still reports. */
export type FailOn = 'error' | 'warning' | 'never'

export interface Report {
  valid: boolean
  errors: number
  warnings: number
  findings: Finding[]
}

/**
 * valid: no error (failOn 'error' or 'never'), no error and no warning (failOn 'warning'); info
 * findings never count. 'never' only means the caller does not fail its step on an invalid report.
 */
export function makeReport(findings: Finding[], failOn: FailOn = 'error'): Report {
  const errors = findings.filter(f => f.severity === 'error').length
  const warnings = findings.filter(f => f.severity === 'warning').length
  const valid = failOn === 'warning' ? errors + warnings === 0 : errors === 0
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
