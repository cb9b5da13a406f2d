/** Untrusted names in messages: escaped onto one line, and lists of them bounded. */

/** Names a message lists before it says how many more there are. */
export const LISTED_AT_MOST = 10

/**
 * A value as one line: control characters (a newline in a label, a terminal escape in a hostile
 * image) are written as escapes, so that a name read from input cannot start a line of its own
 * in a log (where `::` at a line's start is a workflow command) or move the terminal's cursor.
 */
export function escapedLine(value: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what must be escaped
  return value.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, escaped)
}

function escaped(c: string): string {
  const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' }
  return named[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`
}

/**
 * Text for a log, whose lines are its own: control characters other than a newline or a tab are
 * escaped (a terminal escape, a carriage return that overwrites a line), and a line that would
 * start with `::`, which the Actions runner reads as a workflow command (`::error::`,
 * `::add-mask::`, `::stop-commands::`), starts with `\u003a:` instead. Lading writes no
 * command through its log: those go through @actions/core, which escapes what they carry.
 */
export function commandFree(text: string): string {
  return (
    text
      // eslint-disable-next-line no-control-regex -- control characters are what must be escaped
      .replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/g, escaped)
      // White space before it is any the runner trims (.NET's, within JavaScript's \s).
      .replace(/(^|\n)([^\S\n]*)::/g, '$1$2\\u003a:')
  )
}

/** `text` cut to `max` characters with an ellipsis: a quoted answer stays short. */
export function clipped(text: string, max: number): string {
  return text.length > max ? text.slice(0, max) + '…' : text
}

/** `a, b, c`, or the first `max` and how many more: a message stays short whatever the input. */
export function listed(items: string[], max = LISTED_AT_MOST, separator = ', '): string {
  const shown = items.slice(0, max).join(separator)
  return items.length > max ? `${shown} and ${items.length - max} more` : shown
}
