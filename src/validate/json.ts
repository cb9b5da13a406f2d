import { finding, type Finding } from './rules.js'

export interface Parsed {
  value?: unknown
  findings: Finding[]
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Parses a JSON document without throwing, and reports what JSON.parse silently accepts but
 * I-JSON (RFC 7493) forbids: non-UTF-8 bytes, duplicate names (JSON.parse keeps the last one, so
 * two readers may see different documents) and integers beyond double precision.
 */
export function parseJSON(input: Buffer | string, location: string): Parsed {
  const findings: Finding[] = []
  // TextDecoder drops a BOM silently; RFC 8259 section 8.1 forbids it and Go's decoder rejects it.
  const bom =
    typeof input === 'string'
      ? input.startsWith('\uFEFF')
      : input.length >= 3 && input[0] === 0xef && input[1] === 0xbb && input[2] === 0xbf
  if (bom) {
    findings.push(
      finding(
        'json-invalid',
        location,
        'starts with a UTF-8 byte order mark, which JSON must not have (RFC 8259 section 8.1; Go readers reject it); remove the first 3 bytes'
      )
    )
    return { findings }
  }
  let text: string
  if (typeof input === 'string') text = input
  else {
    try {
      text = utf8.decode(input)
    } catch {
      findings.push(finding('json-not-utf8', location, 'the document is not valid UTF-8'))
      text = input.toString('utf8')
    }
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    findings.push(finding('json-invalid', location, `is not valid JSON: ${(err as Error).message}`))
    return { findings }
  }
  scanIJSON(text, location, findings)
  return { value, findings }
}

/** Walks well-formed JSON text (JSON.parse accepted it) looking for I-JSON violations. */
function scanIJSON(text: string, location: string, findings: Finding[]): void {
  // Each open object keeps the names seen so far; arrays push undefined.
  const stack: Array<{ keys: Set<string>; expectKey: boolean } | undefined> = []
  const path: string[] = []
  let reported = 0
  const report = (f: Finding): void => {
    if (reported++ < 20) findings.push(f)
  }
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
    } else if (c === '"') {
      let j = i + 1
      while (j < n && text[j] !== '"') j += text[j] === '\\' ? 2 : 1
      const top = stack[stack.length - 1]
      if (top && top.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string
        if (top.keys.has(key))
          report(
            finding(
              'json-duplicate-key',
              location,
              `name "${key}" appears twice in the object at ${path.join('.') || '(top level)'}`
            )
          )
        top.keys.add(key)
        top.expectKey = false
        path.push(key)
      }
      i = j + 1
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      let j = i + 1
      while (j < n && /[0-9eE.+-]/.test(text[j])) j++
      const raw = text.slice(i, j)
      const top = stack[stack.length - 1]
      const key = top && !top.expectKey ? path[path.length - 1] : undefined
      if ((key === 'schemaVersion' || key === 'size') && !/^-?\d+$/.test(raw))
        report(
          finding(
            'json-integer',
            location,
            `\`${key}\` at ${path.join('.')} is written ${raw}; it is an integer, and Go readers refuse a fraction or exponent here`
          )
        )
      if (/^-?\d+$/.test(raw) && !Number.isSafeInteger(Number(raw)))
        report(
          finding(
            'json-number-precision',
            location,
            `the integer ${raw} at ${path.join('.') || '(top level)'} is beyond ±2^53 and loses precision`
          )
        )
      i = j
    } else i++
  }
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
