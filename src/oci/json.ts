/**
 * The one JSON reader for documents Lading did not write: it never throws on what it reads, and
 * says what JSON.parse silently accepts but I-JSON (RFC 7493) forbids. It returns reasons; the
 * validator maps them to its rule ids, and the transports turn a value-less result into an error.
 */
import { LadingError } from '../util/errors.js'

export type JSONProblemKind =
  /** a UTF-8 byte order mark (RFC 8259 section 8.1; Go readers reject it): no value */
  | 'byte-order-mark'
  /** JSON.parse refuses the text: no value */
  | 'invalid'
  /** the bytes are not UTF-8; the value is of the text decoded with replacement characters */
  | 'not-utf8'
  /** an object has a name twice (JSON.parse keeps the last one, other readers the first) */
  | 'duplicate-key'
  /** `schemaVersion` or `size` is written with a fraction or an exponent */
  | 'integer-form'
  /** an integer beyond ±2^53, which a double does not hold exactly */
  | 'number-precision'
  /** arrays and objects nest deeper than MAX_JSON_DEPTH: no value */
  | 'too-deep'

export interface JSONProblem {
  kind: JSONProblemKind
  /** what is wrong, worded to follow the name of the document */
  message: string
}

export interface ParsedJSON {
  /** undefined when the text is not JSON (then a problem says why) */
  value?: unknown
  problems: JSONProblem[]
}

/**
 * The deepest nesting of arrays and objects Lading reads in a document. Manifests, indexes and
 * configs nest four or five levels (annotations and labels are flat maps); what reads a value
 * after it is parsed (JSON.stringify, structuredClone, the document rules) recurses once per
 * level, so a document nested thousands deep would overflow the stack there. Refused before it
 * is parsed, it is an error naming the document, never a stack trace.
 */
export const MAX_JSON_DEPTH = 64

/** Members that the OCI schemas type as integers: Go's decoder refuses `1.0` or `1e0` there. */
const INTEGER_MEMBERS = new Set(['schemaVersion', 'size'])
/** Beyond this many I-JSON problems in one document the rest are not listed. */
const MAX_SCAN_PROBLEMS = 20

const utf8 = new TextDecoder('utf-8', { fatal: true })

function startsWithBOM(input: Buffer | string): boolean {
  return typeof input === 'string'
    ? input.startsWith('\uFEFF')
    : input.length >= 3 && input[0] === 0xef && input[1] === 0xbb && input[2] === 0xbf
}

/** JSON.parse's verdict on the input, with the decoded text for the I-JSON scan. */
function parseText(input: Buffer | string): ParsedJSON & { text?: string } {
  const problems: JSONProblem[] = []
  // TextDecoder drops a BOM silently, so it is looked for in the bytes.
  if (startsWithBOM(input)) {
    problems.push({
      kind: 'byte-order-mark',
      message:
        'starts with a UTF-8 byte order mark, which JSON must not have (RFC 8259 section 8.1; Go readers reject it); remove the first 3 bytes'
    })
    return { problems }
  }
  let text: string
  if (typeof input === 'string') text = input
  else {
    try {
      text = utf8.decode(input)
    } catch {
      problems.push({ kind: 'not-utf8', message: 'the document is not valid UTF-8' })
      text = input.toString('utf8')
    }
  }
  const depth = jsonDepth(text)
  if (depth > MAX_JSON_DEPTH) {
    problems.push({
      kind: 'too-deep',
      message: `nests arrays and objects ${depth} levels deep, more than the ${MAX_JSON_DEPTH} (MAX_JSON_DEPTH) Lading reads; it was not read, so nothing it holds or references was checked`
    })
    return { problems }
  }
  try {
    return { value: JSON.parse(text) as unknown, problems, text }
  } catch (err) {
    problems.push({ kind: 'invalid', message: `is not valid JSON: ${(err as Error).message}` })
    return { problems }
  }
}

/**
 * The deepest nesting of `[` and `{` in JSON text, brackets inside strings apart: one pass, no
 * recursion and no stack, so it is safe on any text (text that is not JSON gets a number too).
 */
export function jsonDepth(text: string): number {
  let depth = 0
  let deepest = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x5b || c === 0x7b) deepest = Math.max(deepest, ++depth)
    else if (c === 0x5d || c === 0x7d) depth--
  }
  return deepest
}

/** Parses a JSON document without throwing, and lists every I-JSON problem it has. */
export function parseJSON(input: Buffer | string): ParsedJSON {
  const { value, problems, text } = parseText(input)
  if (text !== undefined) problems.push(...scanIJSON(text))
  return { value, problems }
}

/**
 * The value of a document that must be JSON, or a LadingError `${what} ${reason}`. Only what
 * JSON.parse refuses, a byte order mark and nesting deeper than MAX_JSON_DEPTH fail: reporting
 * I-JSON problems is the validator's.
 */
export function parseJSONValue(input: Buffer | string, what: string): unknown {
  const parsed = parseText(input)
  if (parsed.text === undefined)
    throw new LadingError(`${what} ${parsed.problems[parsed.problems.length - 1].message}`)
  return parsed.value
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Where the scan is: each open object keeps the names seen so far; arrays push undefined. */
interface ScanState {
  stack: Array<{ keys: Set<string>; expectKey: boolean } | undefined>
  path: string[]
  problems: JSONProblem[]
}

function pathOf(state: ScanState): string {
  return state.path.join('.') || '(top level)'
}

function report(state: ScanState, problem: JSONProblem): void {
  if (state.problems.length < MAX_SCAN_PROBLEMS) state.problems.push(problem)
}

/** Walks well-formed JSON text (JSON.parse accepted it) looking for I-JSON violations. */
function scanIJSON(text: string): JSONProblem[] {
  const state: ScanState = { stack: [], path: [], problems: [] }
  const { stack, path } = state
  let i = 0
  const n = text.length
  while (i < n) {
    const c = text[i]
    if (c === '{') {
      stack.push({ keys: new Set(), expectKey: true })
      i++
    } else if (c === '[') {
      stack.push(undefined)
      i++
    } else if (c === '}' || c === ']') {
      const top = stack.pop()
      if (top && !top.expectKey) path.pop()
      i++
    } else if (c === ',') {
      const top = stack[stack.length - 1]
      if (top) {
        top.expectKey = true
        path.pop()
      }
      i++
    } else if (c === '"') i = scanString(text, i, state)
    else if (c === '-' || (c >= '0' && c <= '9')) i = scanNumber(text, i, state)
    else i++
  }
  return state.problems
}

/** A string at `i`: a name is checked against the names before it. Returns the index after it. */
function scanString(text: string, i: number, state: ScanState): number {
  let j = i + 1
  while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1
  const top = state.stack[state.stack.length - 1]
  if (top && top.expectKey) {
    const key = JSON.parse(text.slice(i, j + 1)) as string
    if (top.keys.has(key))
      report(state, {
        kind: 'duplicate-key',
        message: `name "${key}" appears twice in the object at ${pathOf(state)}`
      })
    top.keys.add(key)
    top.expectKey = false
    state.path.push(key)
  }
  return j + 1
}

/** A number at `i`. Returns the index after it. */
function scanNumber(text: string, i: number, state: ScanState): number {
  let j = i + 1
  while (j < text.length && /[0-9eE.+-]/.test(text[j])) j++
  const raw = text.slice(i, j)
  const top = state.stack[state.stack.length - 1]
  const key = top && !top.expectKey ? state.path[state.path.length - 1] : undefined
  const integer = /^-?\d+$/.test(raw)
  if (key !== undefined && INTEGER_MEMBERS.has(key) && !integer)
    report(state, {
      kind: 'integer-form',
      message: `\`${key}\` at ${state.path.join('.')} is written ${raw}; it is an integer, and Go readers refuse a fraction or exponent here`
    })
  if (integer && !Number.isSafeInteger(Number(raw)))
    report(state, {
      kind: 'number-precision',
      message: `the integer ${raw} at ${pathOf(state)} is beyond ±2^53 and loses precision`
    })
  return j
}
