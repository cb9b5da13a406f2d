import { LadingError, messageOf } from '../util/errors.js'
import { RetryableError, describeErrors, isRetryableStatus, parseErrorBody } from './errors.js'
import type { ResolvedCredentials } from './credentials.js'
import { Secrets } from '../util/secrets.js'
import { parseJSON } from '../oci/json.js'
import { displayUrl, readBody, send, header } from './http.js'
import { parseRetryAfter } from './retry.js'

export interface Challenge {
  scheme: string
  params: Record<string, string>
}

/** Parses `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` (quoted or token values). */
export function parseChallenge(value: string | undefined): Challenge | undefined {
  if (!value) return undefined
  const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(value)
  if (!m) return undefined
  const params: Record<string, string> = {}
  const re = /([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g
  for (let p = re.exec(m[2]); p; p = re.exec(m[2]))
    params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]
  return { scheme: m[1].toLowerCase(), params }
}

export function repositoryScope(repository: string, actions: string): string {
  return `repository:${repository}:${actions}`
}

interface CachedToken {
  token: string
  expiresAt: number
}

/** Renew a token this long before it expires, so it does not lapse during a request. */
const EXPIRY_MARGIN_MS = 30_000

export interface AuthenticatorOptions {
  /** The registry's API host, for messages. */
  registry: string
  /** The registry's `/v2/` URL: its scheme says whether credentials may travel over plain HTTP. */
  base: URL
  creds: () => Promise<ResolvedCredentials>
  log: (msg: string) => void
  secrets?: Secrets
  /** The deadline of one token request. */
  deadlineMs: number
}

/**
 * Produces the Authorization header for requests to one registry: none, Basic, or a Bearer token
 * obtained from the challenge's realm for a set of scopes, cached until it expires.
 */
export class Authenticator {
  private challenge?: Challenge
  private readonly tokens = new Map<string, Promise<CachedToken>>()
  private readonly registry: string
  private readonly creds: () => Promise<ResolvedCredentials>
  private readonly log: (msg: string) => void
  private readonly secrets: Secrets

  constructor(private readonly opts: AuthenticatorOptions) {
    this.registry = opts.registry
    this.creds = opts.creds
    this.log = opts.log
    this.secrets = opts.secrets ?? new Secrets()
  }

  private basic(username: string, password: string): string {
    const b = Buffer.from(`${username}:${password}`).toString('base64')
    this.secrets.add(b)
    return b
  }

  /** Learns the scheme from a 401 (of the ping or of any request). */
  setChallenge(value: string | undefined): void {
    const c = parseChallenge(value)
    if (c) this.challenge = c
  }

  get scheme(): string | undefined {
    return this.challenge?.scheme
  }

  /** Forgets the cached token for these scopes, so the next header fetches a new one. */
  invalidate(scopes: string[]): void {
    this.tokens.delete(scopeKey(scopes))
  }

  async header(scopes: string[]): Promise<string | undefined> {
    const c = this.challenge
    if (!c) return undefined
    if (c.scheme === 'basic') {
      const { credentials } = await this.creds()
      if (!credentials) return undefined
      return 'Basic ' + this.basic(credentials.username, credentials.password)
    }
    if (c.scheme !== 'bearer') return undefined
    const key = scopeKey(scopes)
    let cached = this.tokens.get(key)
    if (cached) {
      const t = await cached.catch(() => undefined)
      if (!t || t.expiresAt - EXPIRY_MARGIN_MS < Date.now()) cached = undefined
    }
    if (!cached) {
      cached = this.fetchToken(c, scopes)
      this.tokens.set(key, cached)
      cached.catch(() => this.tokens.delete(key))
    }
    return 'Bearer ' + (await cached).token
  }

  private async fetchToken(c: Challenge, scopes: string[]): Promise<CachedToken> {
    const realm = c.params.realm
    if (!realm)
      throw new LadingError(`${this.registry} asked for a bearer token but named no realm`)
    let url: URL
    try {
      url = new URL(realm)
    } catch {
      throw new LadingError(`${this.registry} named a token realm that is not a URL`)
    }
    const resolved = await this.creds()
    this.refuseClearText(url, resolved)
    const all = [...new Set([...scopes, ...(c.params.scope ? c.params.scope.split(' ') : [])])]
    let res
    if (resolved.identityToken) {
      // An identity token is an OAuth2 refresh token: trade it with a form POST.
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: resolved.identityToken,
        service: c.params.service ?? '',
        client_id: 'lading',
        scope: all.join(' ')
      })
      res = await this.exchange(url, 'POST', form, {
        'Content-Type': 'application/x-www-form-urlencoded'
      })
    } else {
      if (c.params.service) url.searchParams.set('service', c.params.service)
      for (const s of all) url.searchParams.append('scope', s)
      const headers: Record<string, string> = {}
      if (resolved.credentials)
        headers.Authorization =
          'Basic ' + this.basic(resolved.credentials.username, resolved.credentials.password)
      res = await this.exchange(url, 'GET', undefined, headers)
    }
    const token = res.token || res.access_token
    if (!token)
      throw new LadingError(`the token server ${displayUrl(url)} answered without a token`)
    this.secrets.add(token)
    const lifetime =
      (typeof res.expires_in === 'number' && res.expires_in > 0 ? res.expires_in : 60) * 1000
    const issued = res.issued_at ? Date.parse(res.issued_at) : NaN
    const start = Number.isNaN(issued) ? Date.now() : Math.min(issued, Date.now())
    this.log(`got a token from ${url.host} for ${all.join(' ')}`)
    return { token, expiresAt: start + lifetime }
  }

  /**
   * Credentials travel in clear text only to a registry the user reaches in clear text (loopback,
   * insecure-registries): an HTTPS registry naming an http:// realm would otherwise have the
   * password read by anyone on the path.
   */
  private refuseClearText(realm: URL, resolved: ResolvedCredentials): void {
    if (realm.protocol === 'https:' || this.opts.base.protocol !== 'https:') return
    if (!resolved.credentials && !resolved.identityToken) return
    throw new LadingError(
      `${this.registry} is reached over HTTPS but sends Lading to the token server ` +
        `${displayUrl(realm)} over plain HTTP; Lading does not send the credentials from ` +
        `${resolved.source} there in clear text. The registry's token realm must be https://; ` +
        'ask its operator to fix it'
    )
  }

  private async exchange(
    url: URL,
    method: string,
    form: URLSearchParams | undefined,
    headers: Record<string, string>
  ): Promise<TokenAnswer> {
    const where = `the token server ${displayUrl(url)} (for ${this.registry})`
    let res
    try {
      res = await send({
        method,
        url,
        headers,
        body: form ? Buffer.from(form.toString()) : undefined,
        watch: { what: `asking ${where} for a token`, deadlineMs: this.opts.deadlineMs }
      })
    } catch (err) {
      if (err instanceof LadingError) throw err
      throw new RetryableError(`${where}: ${messageOf(err)}`)
    }
    const body = (await readBody(res, 1024 * 1024)).toString('utf8')
    if (isRetryableStatus(res.status))
      throw new RetryableError(
        `${where} answered ${res.status}`,
        parseRetryAfter(header(res, 'retry-after'))
      )
    if (res.status !== 200) {
      const said = describeErrors(parseErrorBody(body), body)
      const e = new LadingError(`${where} refused a token: ${res.status}${said ? ` ${said}` : ''}`)
      throw Object.assign(e, { status: res.status })
    }
    // JSON.parse's reason quotes the text, which may hold a token: it is left out.
    const { value } = parseJSON(body)
    if (value === undefined) throw new LadingError(`${where} answered something that is not JSON`)
    return value as TokenAnswer
  }
}

interface TokenAnswer {
  token?: string
  access_token?: string
  expires_in?: number
  issued_at?: string
}

function scopeKey(scopes: string[]): string {
  return [...scopes].sort().join(' ')
}
