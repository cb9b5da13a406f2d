import * as http from 'node:http'
import * as https from 'node:https'
import type { Readable } from 'node:stream'

export interface HttpRequest {
  method: string
  url: URL
  headers: Record<string, string>
  /** A buffer, or a stream consumed once. */
  body?: Buffer | Readable
  /** Idle time without any byte moving before the request is abandoned. */
  timeoutMs?: number
}

export interface HttpResponse {
  status: number
  headers: http.IncomingHttpHeaders
  url: URL
  body: http.IncomingMessage
}

// Keep-alive matters: a push is hundreds of small requests to one host.
const agents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 32 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 32 })
}

/** One HTTP exchange; resolves when the response headers arrive, body left to the caller. */
export function send(req: HttpRequest): Promise<HttpResponse> {
  const isHttps = req.url.protocol === 'https:'
  const lib = isHttps ? https : http
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'User-Agent': 'lading', ...req.headers }
    if (Buffer.isBuffer(req.body)) headers['Content-Length'] = String(req.body.length)
    else if (!req.body && ['PUT', 'POST', 'PATCH'].includes(req.method))
      headers['Content-Length'] = '0'
    const r = lib.request(
      req.url,
      { method: req.method, headers, agent: isHttps ? agents.https : agents.http },
      res => resolve({ status: res.statusCode ?? 0, headers: res.headers, url: req.url, body: res })
    )
    // An idle socket for a minute is a dead registry: give up on this attempt (retries follow).
    r.setTimeout(req.timeoutMs ?? 60_000, () =>
      r.destroy(
        Object.assign(new Error(`${req.method} ${req.url.host} timed out`), { code: 'ETIMEDOUT' })
      )
    )
    r.on('error', reject)
    if (!req.body || Buffer.isBuffer(req.body)) {
      r.end(req.body)
      return
    }
    const src = req.body
    src.on('error', err => r.destroy(err))
    src.pipe(r)
  })
}

export async function readBody(res: HttpResponse, limit = 64 * 1024 * 1024): Promise<Buffer> {
  return readAll(res.body, limit, `response from ${res.url.host}`)
}

/** Raised when a body is longer than its caller allows; not worth a retry. */
export class TooLarge extends Error {}

/** A whole body, never more than `limit` bytes of it in memory. */
export async function readAll(body: Readable, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    size += (chunk as Buffer).length
    if (size > limit) {
      body.destroy()
      throw new TooLarge(`${what} is larger than ${limit} bytes`)
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
