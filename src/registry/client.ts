import type { Readable } from 'node:stream'
import { Secrets } from '../util/secrets.js'
import { LadingError, messageOf } from '../util/errors.js'
import type { MemoryRelief } from '../util/memory.js'
import { registryApiHost } from '../oci/reference.js'
import { Authenticator } from './auth.js'
import { resolveCredentials, type AuthOptions, type ResolvedCredentials } from './credentials.js'
import {
  RegistryError,
  RetryableError,
  isRetryableStatus,
  registryError,
  type ErrorContext
} from './errors.js'
import { displayUrl, drain, header, readBody, send, type HttpResponse } from './http.js'
import { defaultRetryPolicy, parseRetryAfter, withRetry, type RetryPolicy } from './retry.js'
import { proxyFor } from './proxy.js'
import { tlsFailure } from './tls.js'
import { defaultTransferLimits, type TransferLimits, type Watch } from './watch.js'

export interface ClientOptions extends AuthOptions {
  log?: (msg: string) => void
  retry?: Partial<RetryPolicy>
  /** The deadline of a request and the minimum rate of a blob transfer (defaults in watch.ts). */
  limits?: Partial<TransferLimits>
  /** Counts the blob bytes hashed on upload, so the run's memory stays flat. */
  relief?: MemoryRelief
}

export interface RequestOptions {
  method: string
  /** A path below `/v2/` (`REPO/blobs/DIGEST`), or an absolute URL such as an upload Location. */
  path?: string
  url?: URL
  /** Token scopes the request needs, e.g. `repository:o/r:pull`. */
  scopes: string[]
  headers?: Record<string, string>
  /** A buffer is resent on retry; a stream factory is opened once and never retried here. */
  body?: Buffer | (() => Promise<Readable>)
  /** Statuses that count as success; anything else becomes an error. */
  expect: number[]
  /** For messages: what is being done, e.g. `PUT manifest ghcr.io/o/r:1`. */
  what: string
  repository?: string
  /** False when the caller retries itself (it must look at the registry between attempts). */
  retry?: boolean
  /**
   * A request whose refusal says nothing about the others of its scope (a mount from a
   * repository the credentials may not read): a 401/403 is not remembered for the scope.
   */
  probe?: boolean
  /** The request streams a blob: held to the minimum rate rather than to the deadline. */
  transfer?: boolean
}

const MAX_REDIRECTS = 5

/** `http://vm:5081/` → `vm:5081`: insecure-registries entries are often written as URLs. */
export function normalizeRegistryHost(entry: string): string {
  return entry
    .trim()
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase()
}

/**
 * Whether the registry's credentials may go with a request to `url`: only to the registry's own
 * scheme, host and port (a redirect to http:// of the same host would send them in clear text).
 */
export function sameOrigin(base: URL, url: URL): boolean {
  return base.origin === url.origin
}

export function isLoopback(host: string): boolean {
  const name = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '')
  return name === 'localhost' || name === '::1' || /^127\.\d+\.\d+\.\d+$/.test(name)
}

/**
 * A client of one registry (Distribution spec v1.1): auth, retries, redirects, error messages.
 * Plain HTTP is used for loopback hosts and `insecureRegistries`, as docker does for localhost;
 * every other host gets verified TLS.
 */
export class RegistryClient {
  /** The host requests go to (Docker Hub's name is not its API host). */
  readonly host: string
  readonly base: URL
  readonly log: (msg: string) => void
  readonly policy: RetryPolicy
  readonly limits: TransferLimits
  readonly relief?: MemoryRelief
  private readonly auth: Authenticator
  private creds?: Promise<ResolvedCredentials>
  private credSource = 'no credentials'
  private inputsFor?: string[]
  private pinged?: Promise<void>
  private readonly refused = new Map<string, RegistryError>()
  private readonly secrets: Secrets

  constructor(
    readonly registry: string,
    private readonly opts: ClientOptions
  ) {
    this.host = registryApiHost(registry)
    const insecure =
      isLoopback(this.host) ||
      (opts.insecureRegistries ?? []).some(
        r => registryApiHost(normalizeRegistryHost(r)) === this.host.toLowerCase()
      )
    this.base = new URL(`${insecure ? 'http' : 'https'}://${this.host}/v2/`)
    this.log = opts.log ?? (() => {})
    const proxy = proxyFor(this.base)
    if (proxy) this.log(`${this.registry}: through the proxy ${proxy.protocol}//${proxy.host}`)
    this.policy = { ...defaultRetryPolicy, ...opts.retry }
    this.limits = { ...defaultTransferLimits, ...opts.limits }
    this.relief = opts.relief
    this.secrets = opts.secrets ?? new Secrets()
    this.auth = new Authenticator({
      registry: this.host,
      base: this.base,
      creds: () => this.credentials(),
      log: this.log,
      secrets: this.secrets,
      deadlineMs: this.limits.deadlineMs
    })
  }

  /** What one exchange is held to: a blob transfer to the minimum rate, the rest to the deadline. */
  watchOf(what: string, transfer = false): Watch {
    const l = this.limits
    const minRate = { bytesPerSecond: l.minBytesPerSecond, windowMs: l.rateWindowMs }
    return { what, deadlineMs: l.deadlineMs, ...(transfer && { minRate }) }
  }

  credentials(): Promise<ResolvedCredentials> {
    this.creds ??= resolveCredentials(this.registry, { ...this.opts, secrets: this.secrets }).then(
      c => {
        this.credSource = c.source
        this.inputsFor = c.inputsFor
        return c
      }
    )
    return this.creds
  }

  context(what: string, repository?: string): ErrorContext {
    return {
      registry: this.registry,
      repository,
      what,
      credentialSource: this.credSource,
      inputsFor: this.inputsFor
    }
  }

  /** `GET /v2/` once, to learn whether and how the registry wants authentication. */
  ping(): Promise<void> {
    const what = `reaching ${this.registry} (${displayUrl(this.base)})`
    this.pinged ??= withRetry(
      what,
      async () => {
        await this.credentials()
        let res: HttpResponse
        try {
          res = await send({
            method: 'GET',
            url: this.base,
            headers: {},
            watch: this.watchOf(what)
          })
        } catch (err) {
          if (err instanceof LadingError) throw err
          throw tlsFailure(err, this.base, this.registry) ?? new RetryableError(messageOf(err))
        }
        const body = (await readBody(res, 1024 * 1024)).toString('utf8')
        if (res.status === 401) this.auth.setChallenge(header(res, 'www-authenticate'))
        else if (isRetryableStatus(res.status))
          throw new RetryableError(`${res.status}`, parseRetryAfter(header(res, 'retry-after')))
        else if (res.status !== 200)
          throw registryError(res.status, body, this.context(`GET ${displayUrl(this.base)}`))
      },
      this.policy,
      this.log
    ).catch(err => {
      this.pinged = undefined
      throw err
    })
    return this.pinged
  }

  urlOf(o: Pick<RequestOptions, 'path' | 'url'>): URL {
    if (o.url) return o.url
    return new URL(o.path ?? '', this.base)
  }

  /**
   * Sends a request with authentication, following redirects for reads and retrying what can
   * be retried. Resolves with the response (body unread) when its status is expected.
   */
  async request(o: RequestOptions): Promise<HttpResponse> {
    await this.ping()
    if (typeof o.body === 'function' || o.retry === false) return this.attempt(o, o.retry === false)
    return withRetry(o.what, () => this.attempt(o, true), this.policy, this.log)
  }

  private async authHeader(o: RequestOptions): Promise<string | undefined> {
    try {
      return await this.auth.header(o.scopes)
    } catch (err) {
      const status = (err as { status?: number }).status
      if (status === 401 || status === 403)
        throw registryError(status, messageOf(err), this.context(o.what, o.repository))
      throw err
    }
  }

  private async attempt(o: RequestOptions, replayable: boolean): Promise<HttpResponse> {
    const refused = this.refused.get(o.scopes.join(' '))
    if (refused) throw refused
    try {
      return await this.attemptOnce(o, replayable)
    } catch (err) {
      // Credentials refused once (401 after a fresh token) are refused for every request still
      // queued: asking again only floods the registry and may lock the account. A 403 is about
      // one request (a mount source, one tag) and is not held against the others.
      if (err instanceof RegistryError && err.status === 401 && !o.probe)
        this.refused.set(o.scopes.join(' '), err)
      throw err
    }
  }

  private async attemptOnce(o: RequestOptions, replayable: boolean): Promise<HttpResponse> {
    for (let reauthed = false; ; reauthed = true) {
      const res = await this.sendFollowing(o, await this.authHeader(o))
      if ((res.status === 401 || res.status === 403) && !sameOrigin(this.base, res.url)) {
        // A redirect target (object storage) or a foreign upload Location never gets the
        // registry's credentials, so its challenge must not be answered with them either.
        await drain(res)
        throw new LadingError(
          `${o.what}: the storage host ${res.url.host} refused the redirected request ` +
            `(${res.status}); Lading does not send registry credentials there. ` +
            `${this.registry} should redirect to a URL that carries its own authorisation ` +
            '(a signed URL); check the storage configuration of the registry.'
        )
      }
      if (res.status === 401) {
        const body = (await readBody(res, 1024 * 1024)).toString('utf8')
        // One new token can fix an expired one or a challenge asking for more scope; a second
        // refusal means the credentials are wrong, and retrying would only lock the account.
        if (!reauthed) this.auth.setChallenge(header(res, 'www-authenticate'))
        if (!reauthed && this.auth.scheme) {
          this.auth.invalidate(o.scopes)
          if (replayable) continue
          throw new RetryableError(`${o.what}: 401, renewing the token`)
        }
        throw registryError(401, body, this.context(o.what, o.repository))
      }
      if (o.expect.includes(res.status)) return res
      const body = (await readBody(res, 1024 * 1024).catch(() => Buffer.alloc(0))).toString('utf8')
      if (isRetryableStatus(res.status)) {
        const ctx = this.context(o.what, o.repository)
        throw new RetryableError(
          `${o.what}: ${res.status} ${body.replace(/\s+/g, ' ').slice(0, 200)}`.trim(),
          parseRetryAfter(header(res, 'retry-after')),
          attempts => registryError(res.status, body, ctx, attempts)
        )
      }
      throw registryError(res.status, body, this.context(o.what, o.repository))
    }
  }

  private async sendFollowing(o: RequestOptions, auth: string | undefined): Promise<HttpResponse> {
    let url = this.urlOf(o)
    const follow = o.method === 'GET' || o.method === 'HEAD'
    for (let hops = 0; ; hops++) {
      const headers: Record<string, string> = { ...o.headers }
      // Blob downloads are often redirected to object storage: the registry's credentials stay
      // with the registry's host.
      if (auth && sameOrigin(this.base, url)) headers.Authorization = auth
      let res: HttpResponse
      try {
        const body = typeof o.body === 'function' ? await o.body() : o.body
        res = await send({
          method: o.method,
          url,
          headers,
          body,
          watch: this.watchOf(o.what, o.transfer)
        })
      } catch (err) {
        if (err instanceof LadingError) throw err
        const tls = tlsFailure(err, url, this.registry)
        if (tls) throw new LadingError(`${o.what}: ${tls.message}`)
        throw new RetryableError(`${o.what}: ${messageOf(err)}`)
      }
      const location = header(res, 'location')
      if (!follow || !location || ![301, 302, 303, 307, 308].includes(res.status)) return res
      await drain(res)
      if (hops >= MAX_REDIRECTS)
        throw new LadingError(
          `${o.what}: more than ${MAX_REDIRECTS} redirects, the last to ` +
            `${displayUrl(location, url)}; the registry's redirects go round in a loop`
        )
      url = this.resolve(location, url, o.what)
    }
  }

  /** Resolves a Location header (relative or absolute) against the request it answered. */
  locationOf(res: HttpResponse, what: string): URL {
    const loc = header(res, 'location')
    if (!loc)
      throw new LadingError(
        `${what}: ${this.registry} answered ${res.status} without a Location header`
      )
    return this.resolve(loc, res.url, what)
  }

  private resolve(location: string, base: URL, what: string): URL {
    try {
      return new URL(location, base)
    } catch {
      throw new LadingError(
        `${what}: ${this.registry} answered with a Location that is not a URL; ` +
          'the registry or a proxy in front of it is misconfigured'
      )
    }
  }
}
