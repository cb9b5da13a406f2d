import { parseJSON, type JSONProblemKind } from '../oci/json.js'
import { finding, type Finding } from './rules.js'

export interface ParsedDocument {
  value?: unknown
  findings: Finding[]
}

/** The rule each problem of the JSON reader breaks. */
const RULE_OF: Record<JSONProblemKind, string> = {
  'byte-order-mark': 'json-invalid',
  invalid: 'json-invalid',
  'not-utf8': 'json-not-utf8',
  'duplicate-key': 'json-duplicate-key',
  'integer-form': 'json-integer',
  'number-precision': 'json-number-precision',
  'too-deep': 'json-too-deep'
}

/** Parses a JSON document without throwing; what is wrong with it becomes findings at `location`. */
export function parseDocument(input: Buffer | string, location: string): ParsedDocument {
  const { value, problems } = parseJSON(input)
  return { value, findings: problems.map(p => finding(RULE_OF[p.kind], location, p.message)) }
}
