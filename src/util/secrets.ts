/**
 * The secrets one run has met (passwords, tokens, the base64 forms they travel in). Whoever
 * derives a credential adds it here; a front end decides what adding means: the action asks
 * GitHub Actions to mask it (`::add-mask::`, which prints the value, so only inside a runner), and
 * every front end can redact it from text it prints.
 */
export class Secrets {
  private readonly values = new Set<string>()

  /** `onAdd` is called once for each new secret (the action's `core.setSecret`). */
  constructor(private readonly onAdd?: (value: string) => void) {}

  add(value: string | undefined): void {
    if (!value || this.values.has(value)) return
    this.values.add(value)
    this.onAdd?.(value)
  }

  /** A secret and the base64 `user:secret` form Basic auth sends. */
  addCredential(secret: string | undefined, username?: string): void {
    if (!secret) return
    this.add(secret)
    if (username !== undefined) this.add(Buffer.from(`${username}:${secret}`).toString('base64'))
  }

  /** `text` with every known secret replaced by `***`. */
  redact(text: string): string {
    let out = text
    // Longest first, so a secret that contains another is replaced whole.
    for (const v of [...this.values].sort((a, b) => b.length - a.length))
      if (v.length >= 4) out = out.split(v).join('***')
    return out
  }
}
