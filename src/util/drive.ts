/**
 * A Windows drive at the start of a path given in an input: one letter, a colon, then `/` or `\`.
 * Its colon never separates the fields of a `PATH:…` line, on whatever OS the line is read.
 */
const DRIVE = /^[A-Za-z]:[/\\]/

/** How many characters of `text` a leading drive takes (`C:`), else 0. */
export function driveLength(text: string): number {
  return DRIVE.test(text) ? 2 : 0
}
