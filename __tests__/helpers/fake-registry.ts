import * as http from 'node:http'
import type { AddressInfo } from 'node:net'

export interface SeenByFake {
  method: string
  url: string
  authorization?: string
}

export interface FakeRegistry {
  /** host:port on 127.0.0.1. */
  host: string
  /** Requests in the order they arrived (`/v2/` included). */
  seen: SeenByFake[]
  stop(): Promise<void>
}

export type FakeHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void

/**
 * A registry that misbehaves as a test says, for what the real one cannot do on demand (trickle,
 * send more than it should, redirect in a loop). `/v2/` answers 200 unless `handle` is given it
 * with `ownV2`.
 */
export async function startFakeRegistry(
  handle: FakeHandler,
  opts: { ownV2?: boolean } = {}
): Promise<FakeRegistry> {
  const seen: SeenByFake[] = []
  const server = http.createServer((req, res) => {
    seen.push({
      method: req.method ?? '',
      url: req.url ?? '',
      authorization: req.headers.authorization
    })
    if (req.url === '/v2/' && !opts.ownV2) {
      res.writeHead(200, { 'Content-Type': 'application/json' })
      res.end('{}')
      return
    }
    handle(req, res)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    stop: () =>
      new Promise<void>(resolve => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
  }
}

/** Writes `bytes` one at a time, `everyMs` apart, until done or the client goes away. */
export function trickle(res: http.ServerResponse, bytes: Buffer, everyMs: number): void {
  let at = 0
  const t = setInterval(() => {
    if (at >= bytes.length || res.destroyed) {
      clearInterval(t)
      if (!res.destroyed) res.end()
      return
    }
    res.write(bytes.subarray(at, ++at))
  }, everyMs)
  res.on('close', () => clearInterval(t))
}

/** Streams `total` bytes (spaces) in 64 KiB writes, honouring backpressure; counts what left. */
export function flood(res: http.ServerResponse, total: number, sent: { bytes: number }): void {
  const chunk = Buffer.alloc(64 * 1024, 0x20)
  const pump = () => {
    while (sent.bytes < total && !res.destroyed) {
      const n = Math.min(chunk.length, total - sent.bytes)
      sent.bytes += n
      if (!res.write(chunk.subarray(0, n))) return void res.once('drain', pump)
    }
    if (!res.destroyed) res.end()
  }
  pump()
}
