import { finding, type Finding } from '../rules.js'

/** Content findings per layer beyond this are summarised, so a hostile layer cannot flood memory. */
export const MAX_FINDINGS = 50

export interface CappedFindings {
  /** the findings listed, at most MAX_FINDINGS until `close` adds the summary */
  findings: Finding[]
  add: (f: Finding) => void
  /** Adds one finding at `location` counting those that were not listed, if any were not. */
  close: (location: string) => void
}

/** A finding list capped at MAX_FINDINGS, the rest counted and summarised by `close`. */
export function cappedFindings(): CappedFindings {
  const findings: Finding[] = []
  let dropped = 0
  return {
    findings,
    add: f => {
      if (findings.length < MAX_FINDINGS) findings.push(f)
      else dropped++
    },
    close: location => {
      if (dropped)
        findings.push(
          finding('layer-tar', location, `${dropped} more findings in this layer were not listed`)
        )
    }
  }
}
