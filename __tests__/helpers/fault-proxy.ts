import * as http from 'node:http'
import type { AddressInfo } from 'node:net'

export type FaultAction =
  | { status: number; headers?: Record<string, string>; body?: string }
  /** Drops the connection before the request reaches the registry. */
  | { reset: 'before' }
  /** Forwards this many body bytes to the registry, then drops both connections. */
  | { reset: 'midbody'; afterBytes: number }
  /** Answers 307 to the same path on the proxy's "storage" host (another host:port). */
  | { redirect: 'storage' }
  /** Answers 307 to the same path under this origin (e.g. `https://127.0.0.1:5000`). */
  | { redirectTo: string }
  /** Forwards, then points the answer's Location (an upload session) at the storage host. */
  | { locationTo: 'storage' }

export interface FaultRule {
  method?: string
  path: RegExp
  /** Matching requests let through before the fault starts. */
  skip?: number
  /** How many matching requests get the fault. */
  times: number
  action: FaultAction
}

export interface SeenRequest {
  method: string
  path: string
  status: number
  fault?: string
  authorization?: string
  contentRange?: string
  at: number
}

export interface FaultProxy {
  /** host:port clients talk to. */
  host: string
  /** Requests in the order they arrived, with what was answered. */
  requests: SeenRequest[]
  /** Requests that reached the storage host after a redirect. */
  storageRequests: SeenRequest[]
  rules: FaultRule[]
  /** Faults of the storage host (status actions only). */
  storageRules: FaultRule[]
  /** host:port of the storage host. */
  storageHost: string
  stop(): Promise<void>
}

const listen = (s: http.Server) =>
  new Promise<number>(resolve =>
    s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port))
  )

const close = (s: http.Server) =>
  new Promise<void>(resolve => {
    s.close(() => resolve())
    s.closeAllConnections()
  })

/**
 * A logging, fault-injecting HTTP proxy in front of a registry: what a real registry cannot do on
 * demand (a 503 on the third upload, a 429 with Retry-After, a reset connection, a redirect).
 * `storageAuth` is the Authorization the storage host itself uses towards the registry.
 */
export async function startFaultProxy(upstream: string, storageAuth?: string): Promise<FaultProxy> {
  const requests: SeenRequest[] = []
  const storageRequests: SeenRequest[] = []
  const rules: FaultRule[] = []
  const storageRules: FaultRule[] = []
  const seen = new Map<FaultRule, number>()
  const pick = (list: FaultRule[], req: http.IncomingMessage): FaultAction | undefined => {
    const rule = list.find(r => {
      if (r.method && r.method !== req.method) return false
      return r.path.test(req.url ?? '')
    })
    if (!rule) return undefined
    const n = (seen.get(rule) ?? 0) + 1
    seen.set(rule, n)
    const skip = rule.skip ?? 0
    return n > skip && n <= skip + rule.times ? rule.action : undefined
  }
  let storageHost = ''

  const forward = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    record: SeenRequest,
    headers: http.IncomingHttpHeaders,
    cutAfter?: number,
    locationTo?: string
  ) => {
    const up = http.request(
      {
        host: upstream.split(':')[0],
        port: Number(upstream.split(':')[1]),
        method: req.method,
        path: req.url,
        headers
      },
      upRes => {
        record.status = upRes.statusCode ?? 0
        const answer = { ...upRes.headers }
        if (locationTo && answer.location)
          answer.location = new URL(answer.location, `http://${upstream}`).href.replace(
            /^http:\/\/[^/]+/,
            `http://${locationTo}`
          )
        res.writeHead(upRes.statusCode ?? 502, answer)
        upRes.pipe(res)
      }
    )
    up.on('error', () => res.destroy())
    if (cutAfter === undefined) {
      req.pipe(up)
      return
    }
    let sent = 0
    req.on('data', (c: Buffer) => {
      if (sent >= cutAfter) return
      const part = c.subarray(0, cutAfter - sent)
      sent += part.length
      up.write(part)
      if (sent >= cutAfter) {
        // Let the bytes reach the registry before cutting both sides, as a dying network would.
        setTimeout(() => {
          up.destroy()
          req.socket.destroy()
        }, 50)
      }
    })
  }

  const recordOf = (req: http.IncomingMessage, extra: Partial<SeenRequest> = {}): SeenRequest => ({
    method: req.method ?? '',
    path: req.url ?? '',
    status: 0,
    authorization: req.headers.authorization,
    ...extra,
    at: Date.now()
  })

  const server = http.createServer((req, res) => {
    const record = recordOf(req, { contentRange: req.headers['content-range'] })
    requests.push(record)
    const action = pick(rules, req)
    if (!action) return forward(req, res, record, req.headers)
    if ('status' in action) {
      record.fault = String(action.status)
      record.status = action.status
      req.resume()
      res.writeHead(action.status, { 'Content-Type': 'application/json', ...action.headers })
      res.end(action.body ?? '')
    } else if ('redirect' in action) {
      record.fault = 'redirect'
      record.status = 307
      req.resume()
      res.writeHead(307, { Location: `http://${storageHost}${req.url}` })
      res.end()
    } else if ('redirectTo' in action) {
      record.fault = 'redirect'
      record.status = 307
      req.resume()
      res.writeHead(307, { Location: `${action.redirectTo}${req.url}` })
      res.end()
    } else if ('locationTo' in action) {
      record.fault = 'location'
      forward(req, res, record, req.headers, undefined, storageHost)
    } else if (action.reset === 'before') {
      record.fault = 'reset'
      req.socket.destroy()
    } else {
      record.fault = 'reset-midbody'
      forward(req, res, record, req.headers, action.afterBytes)
    }
  })

  const storage = http.createServer((req, res) => {
    const record = recordOf(req)
    storageRequests.push(record)
    const action = pick(storageRules, req)
    if (action && 'status' in action) {
      record.fault = String(action.status)
      record.status = action.status
      req.resume()
      res.writeHead(action.status, { 'Content-Type': 'application/json', ...action.headers })
      res.end(action.body ?? '')
      return
    }
    const headers = { ...req.headers, host: upstream }
    delete headers.authorization
    if (storageAuth) headers.authorization = storageAuth
    // An upload moved here stays here.
    forward(req, res, record, headers, undefined, storageHost)
  })

  const port = await listen(server)
  storageHost = `127.0.0.1:${await listen(storage)}`
  return {
    host: `127.0.0.1:${port}`,
    requests,
    storageRequests,
    rules,
    storageRules,
    storageHost,
    stop: async () => {
      await close(server)
      await close(storage)
    }
  }
}
