/** What validation says about one place in an image: the shape every stage passes around. */

/** `info` records what was deliberately not checked; it never fails a run, whatever fail-on says. */
export type Severity = 'error' | 'warning' | 'info'

export interface Finding {
  /** the rule's id in the catalogue (src/validate/rules.ts, docs/rules.md) */
  rule: string
  severity: Severity
  message: string
  /** where: a source line, a blob, a document path such as `manifests[0].platform` */
  location: string
  /** the URL of the spec section the rule enforces */
  spec: string
}
