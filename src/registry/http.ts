import * as http from 'node:http'
import * as https from 'node:https'
import { Readable } from 'node:stream'
import { LadingError } from '../util/errors.js'
import { MAX_DOCUMENT_BYTES } from '../oci/limits.js'
import { proxyFor, viaProxy, type ProxyEnv } from './proxy.js'
import { ExchangeWatch, type Watch } from './watch.js'

export interface HttpRequest {
  method: string
  url: URL
  headers: Record<string, string>
  /** A buffer, or a stream consumed once. */
  body?: Buffer | Readable
  /** Idle time without any byte moving before the request is abandoned. */
  timeoutMs?: number
  /** The deadline or minimum rate the exchange is held to. */
  watch?: Watch
}

export interface HttpResponse {
  status: number
  headers: http.IncomingHttpHeaders
  url: URL
  body: http.IncomingMessage
}

// Keep-alive matters: a push is hundreds of small requests to one host.
/**
 * `scheme://host/path` of a URL, for messages: its userinfo and query (a signed URL's signature,
 * an upload's state) are credentials often enough that no message shows them.
 */
export function displayUrl(u: URL | string, base?: URL): string {
  let url: URL
  try {
    url = new URL(u, base)
  } catch {
    return '(a URL that does not parse)'
  }
  return `${url.protocol}//${url.host}${url.pathname}`
}

/** Slices a buffer body, so its progress (and a minimum rate) can be seen as it is sent. */
function sliced(body: Buffer): Readable {
  const size = 64 * 1024
  return Readable.from(
    (function* () {
      for (let at = 0; at < body.length; at += size) yield body.subarray(at, at + size)
    })()
  )
}

const agents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 32 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 32 })
}

/**
 * One HTTP exchange; resolves when the response headers arrive, body left to the caller. It goes
 * through the proxy the environment names for its URL (proxy.ts), if any.
 */
export function send(req: HttpRequest, env: ProxyEnv = process.env): Promise<HttpResponse> {
  const isHttps = req.url.protocol === 'https:'
  const lib = isHttps ? https : http
  return new Promise((resolve, reject) => {
    // Thrown here, a misconfigured proxy variable becomes the exchange's rejection.
    const proxy = proxyFor(req.url, env)
    const headers: Record<string, string> = { 'User-Agent': 'lading', ...req.headers }
    if (Buffer.isBuffer(req.body)) headers['Content-Length'] = String(req.body.length)
    else if (!req.body && ['PUT', 'POST', 'PATCH'].includes(req.method))
      headers['Content-Length'] = '0'
    const body = Buffer.isBuffer(req.body) && req.watch?.minRate ? sliced(req.body) : req.body
    let watch: ExchangeWatch | undefined
    const answered = (res: http.IncomingMessage) => {
      watch?.response(res)
      resolve({ status: res.statusCode ?? 0, headers: res.headers, url: req.url, body: res })
    }
    let r: http.ClientRequest
    if (proxy) {
      const via = viaProxy(req.url, proxy, headers)
      r = via.lib.request({ ...via.options, method: req.method }, answered)
    } else {
      const agent = isHttps ? agents.https : agents.http
      r = lib.request(req.url, { method: req.method, headers, agent }, answered)
    }
    if (req.watch) watch = new ExchangeWatch(r, req.watch, req.url.host, body !== undefined)
    // An idle socket for a minute is a dead registry: give up on this attempt (retries follow).
    r.setTimeout(req.timeoutMs ?? 60_000, () =>
      r.destroy(
        Object.assign(new Error(`${req.method} ${req.url.host} timed out`), { code: 'ETIMEDOUT' })
      )
    )
    r.on('error', reject)
    if (!body || Buffer.isBuffer(body)) {
      r.end(body)
      return
    }
    body.on('error', err => r.destroy(err))
    body.pipe(r)
  })
}

export async function readBody(res: HttpResponse, limit = 64 * 1024 * 1024): Promise<Buffer> {
  return readAll(res.body, limit, `response from ${res.url.host}`)
}

/** The size a response states, when it states one. */
export function contentLength(res: HttpResponse): number | undefined {
  const v = header(res, 'content-length')
  return v !== undefined && /^\d+$/.test(v.trim()) ? Number(v) : undefined
}

/**
 * A manifest, index or config, never read past MAX_DOCUMENT_BYTES nor past the size its
 * descriptor says, when one does: refused at once when the registry states a larger size, else as
 * soon as more arrives. `what` names the registry and the reference or digest.
 */
export async function readDocument(
  res: HttpResponse,
  what: string,
  declared?: number
): Promise<Buffer> {
  const limit = Math.min(declared ?? MAX_DOCUMENT_BYTES, MAX_DOCUMENT_BYTES)
  const over = (seen: string) =>
    new LadingError(
      `${what}: the registry sent ${seen}, more than ` +
        (declared !== undefined && declared <= MAX_DOCUMENT_BYTES
          ? `the ${declared} bytes its descriptor says`
          : `the ${MAX_DOCUMENT_BYTES}-byte limit on documents (MAX_DOCUMENT_BYTES)`) +
        '; it was not read'
    )
  const stated = contentLength(res)
  if (stated !== undefined && stated > limit) {
    res.body.destroy()
    throw over(`${stated} bytes (Content-Length)`)
  }
  try {
    return await readAll(res.body, limit, what)
  } catch (err) {
    if (err instanceof TooLarge) throw over(`${err.seen} bytes before Lading stopped reading`)
    throw err
  }
}

/** Raised when a body is longer than its caller allows; not worth a retry. */
export class TooLarge extends LadingError {
  constructor(
    message: string,
    /** Bytes received when reading stopped. */
    readonly seen: number
  ) {
    super(message)
  }
}

/** A whole body, never more than `limit` bytes of it in memory. */
export async function readAll(body: Readable, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    size += (chunk as Buffer).length
    if (size > limit) {
      body.destroy()
      throw new TooLarge(`${what} is larger than ${limit} bytes`, size)
    }
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}

/** Throws the body away so the connection can be reused. */
export async function drain(res: HttpResponse): Promise<void> {
  try {
    for await (const _ of res.body) void _
  } catch {
    // The body of a response we do not use cannot matter.
  }
}

export function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()]
  return Array.isArray(v) ? v[0] : v
}
