/**
 * An error a user can act on. Front ends print its message alone, never a stack trace; any
 * other error reaching a front end is a bug in Lading and is reported as such.
 */
export class LadingError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'LadingError'
  }
}

/** The message of anything thrown, for wrapping into a LadingError with context. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code
    // Node's fs errors already name the path; keep them short and free of stack frames.
    return code && !err.message.includes(code) ? `${code}: ${err.message}` : err.message
  }
  return String(err)
}
