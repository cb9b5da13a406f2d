import { LadingError } from '../util/errors.js'
import { isObject, parseJSON } from '../oci/json.js'
import { clipped, escapedLine, listed } from '../util/listing.js'

/** One entry of the Distribution spec's error body `{"errors":[{code,message,detail}]}`. */
export interface RegistryErrorEntry {
  code: string
  message?: string
  detail?: unknown
}

/** A failure worth trying again (network error, 408, 429, 5xx); `retryAfterMs` is the server's wish. */
export class RetryableError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
    /** The error to give the user when no attempt is left, knowing how many were made. */
    readonly exhausted?: (attempts: number) => LadingError
  ) {
    super(message)
    this.name = 'RetryableError'
  }
}

/** A failure from a registry that a retry cannot fix; its message tells the user what to do. */
export class RegistryError extends LadingError {
  constructor(
    message: string,
    readonly status: number,
    readonly codes: string[] = []
  ) {
    super(message)
  }
}

export function parseErrorBody(body: string): RegistryErrorEntry[] {
  // Proxies and object stores answer with HTML or plain text: then there is no entry.
  const parsed = parseJSON(body).value
  if (!isObject(parsed) || !Array.isArray(parsed.errors)) return []
  return (parsed.errors as RegistryErrorEntry[]).filter(e => typeof e?.code === 'string')
}

/** Characters of a registry's answer a message quotes: of each error entry, or of a body. */
const QUOTED_CHARS = 200
/** Error entries a message quotes: a registry may send any number. */
const QUOTED_ENTRIES = 5

/** What the registry said, on one line: its first error entries, or the start of its body. */
export function describeErrors(entries: RegistryErrorEntry[], body: string): string {
  if (entries.length) {
    const said = entries.map(e => {
      const text = typeof e.message === 'string' && e.message ? `${e.code}: ${e.message}` : e.code
      return clipped(escapedLine(text), QUOTED_CHARS)
    })
    return listed(said, QUOTED_ENTRIES, '; ')
  }
  return clipped(body.replace(/\s+/g, ' ').trim(), QUOTED_CHARS)
}

/** Network errors that a new connection can fix. */
const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'ERR_STREAM_PREMATURE_CLOSE'
])

export function isRetryableNetworkError(err: unknown): boolean {
  if (err instanceof RetryableError) return true
  // A LadingError already says what the user must do (a limit hit, a refusal): trying again
  // would only repeat it.
  if (err instanceof LadingError) return false
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  if (code && RETRYABLE_CODES.has(code)) return true
  return err instanceof Error && /socket hang up|aborted|timed out/i.test(err.message)
}

export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500
}

export interface ErrorContext {
  registry: string
  repository?: string
  /** What was being done, e.g. `PUT manifest ghcr.io/o/r:1`. */
  what: string
  /** Where the credentials came from, e.g. `docker config ~/.docker/config.json`. */
  credentialSource: string
  /** The registries the username/password inputs are for, when this is not one of them. */
  inputsFor?: string[]
}

const GHCR_HINT =
  ' For ghcr.io, the token needs the `packages: write` permission (in the workflow: ' +
  '`permissions: packages: write`) and, for an existing package, access granted to this ' +
  "repository in the package's settings."

/** Turns a registry's refusal into a message naming what failed, where, and what to do. */
export function registryError(
  status: number,
  body: string,
  ctx: ErrorContext,
  attempts = 1
): RegistryError {
  const entries = parseErrorBody(body)
  const codes = entries.map(e => e.code)
  const said = describeErrors(entries, body)
  const head = `${ctx.what} failed: ${status}${said ? ` ${said}` : ''}`
  const ghcr = ctx.registry === 'ghcr.io' ? GHCR_HINT : ''
  const repo = ctx.repository ? `${ctx.registry}/${ctx.repository}` : ctx.registry
  let advice: string
  if ((status === 401 || codes.includes('UNAUTHORIZED')) && ctx.inputsFor) {
    const mine = ctx.inputsFor.length
      ? `are for ${ctx.inputsFor.join(', ')} only`
      : 'are for the registries of the tags, and there are no tags'
    advice =
      `${ctx.registry} asks for credentials, and the username/password inputs ${mine}; ` +
      `log in to ${ctx.registry} with docker/login-action before Lading ` +
      `(used here: ${ctx.credentialSource}).` +
      ghcr
  } else if (status === 401 || codes.includes('UNAUTHORIZED')) {
    advice =
      `${ctx.registry} did not accept the credentials from ${ctx.credentialSource}. ` +
      'Give the username/password inputs, or log in with docker/login-action before Lading.' +
      ghcr
  } else if (status === 403 || codes.includes('DENIED')) {
    advice =
      `${ctx.registry} denied access to ${repo} with the credentials from ${ctx.credentialSource}: ` +
      'they are valid but lack permission for this repository.' +
      ghcr
  } else if (codes.includes('NAME_UNKNOWN')) {
    advice = `the repository ${repo} does not exist (or these credentials cannot see it); check the name or create it.`
  } else if (codes.includes('MANIFEST_UNKNOWN') || (status === 404 && /manifest/i.test(ctx.what))) {
    advice = `${repo} has no such tag or digest; check the reference.`
  } else if (status === 429 || codes.includes('TOOMANYREQUESTS')) {
    advice =
      `${ctx.registry} is rate-limiting requests (still after ${attempts} attempts). ` +
      'Log in to raise the limit (anonymous pulls have the lowest), or run again later.'
  } else if (status >= 500) {
    advice = `${ctx.registry} kept failing (${attempts} attempts); it may be down, try again later.`
  } else if (codes.includes('DIGEST_INVALID') || codes.includes('SIZE_INVALID')) {
    advice =
      'the registry computed another digest or size than the descriptor says; the source blob is corrupt.'
  } else if (codes.includes('MANIFEST_INVALID') || codes.includes('MANIFEST_BLOB_UNKNOWN')) {
    advice = 'the registry rejected the manifest; run Lading validation on the image to see why.'
  } else {
    advice = 'see the registry message above.'
  }
  return new RegistryError(`${head}. ${advice}`, status, codes)
}
