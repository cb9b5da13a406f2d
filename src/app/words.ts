import { LadingError } from '../util/errors.js'

/**
 * Splits a string into words as a POSIX shell would (quotes, backslash escapes), without any
 * expansion: `sh -c "echo hi"` → ["sh", "-c", "echo hi"].
 */
export function shellWords(s: string, input: string): string[] {
  const words: string[] = []
  let cur = ''
  let inWord = false
  let quote: '"' | "'" | undefined
  for (let i = 0; i < s.length; i++) {
    const c = s[i]
    if (quote === "'") {
      if (c === "'") quote = undefined
      else cur += c
    } else if (quote === '"') {
      if (c === '"') quote = undefined
      else if (c === '\\' && i + 1 < s.length && '"\\$`\n'.includes(s[i + 1])) cur += s[++i]
      else cur += c
    } else if (c === "'" || c === '"') {
      quote = c
      inWord = true
    } else if (c === '\\') {
      if (i + 1 < s.length) cur += s[++i]
      inWord = true
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur)
      cur = ''
      inWord = false
    } else {
      cur += c
      inWord = true
    }
  }
  if (quote) throw new LadingError(`${input}: unterminated ${quote} quote in "${s}"`)
  if (inWord) words.push(cur)
  return words
}

/** A JSON array of strings, or a string split as a shell splits words. */
export function parseCommand(value: string, input: string): string[] {
  const v = value.trim()
  if (v.startsWith('[')) {
    let parsed: unknown
    try {
      parsed = JSON.parse(v)
    } catch (err) {
      throw new LadingError(
        `${input}: "${v}" starts with [ but is not a JSON array (${(err as Error).message})`
      )
    }
    if (!Array.isArray(parsed) || parsed.some(x => typeof x !== 'string'))
      throw new LadingError(`${input}: "${v}" must be a JSON array of strings`)
    return parsed as string[]
  }
  return shellWords(v, input)
}
