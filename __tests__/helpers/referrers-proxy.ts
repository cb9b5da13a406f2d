import { createHash } from 'node:crypto'
import * as http from 'node:http'
import type { AddressInfo } from 'node:net'

export interface ReferrersProxy {
  /** host:port clients talk to */
  host: string
  /** `METHOD path` of every request, in order */
  requests: string[]
  /** When set, referrers lists are answered in pages, as a registry may (distribution-spec v1.1). */
  paging?: Paging
  stop(): Promise<void>
}

export interface Paging {
  /** Manifests on a page; page `n` is asked for as `?page=n`, the first without a query. */
  size: number
  /**
   * The Link header of page `n` of `pages` (`path` is the list's path, without the query);
   * by default `<path?page=n+1>; rel="next"` on every page but the last.
   */
  link?: (n: number, pages: number, path: string) => string | undefined
}

/**
 * A proxy in front of distribution 2.8 (which has no referrers API) that adds one, as a registry
 * implementing distribution-spec v1.1 would: a manifest PUT whose body has a `subject` is answered
 * with `OCI-Subject`, and `GET /v2/NAME/referrers/DIGEST` lists the manifests pushed so (in
 * pages, with `Link` headers, when `paging` is set).
 */
export async function startReferrersProxy(upstream: string): Promise<ReferrersProxy> {
  const requests: string[] = []
  const listed = new Map<string, object[]>()
  const [upHost, upPort] = upstream.split(':')
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`)
    const referrers = /^(\/v2\/(.+)\/referrers\/([^/?]+))(?:\?page=(\d+))?/.exec(req.url ?? '')
    if (req.method === 'GET' && referrers) {
      req.resume()
      let manifests = listed.get(`${referrers[2]}@${referrers[3]}`) ?? []
      const headers: Record<string, string> = {
        'Content-Type': 'application/vnd.oci.image.index.v1+json'
      }
      if (proxy.paging) {
        const { size, link } = proxy.paging
        const n = Number(referrers[4] ?? 1)
        const pages = Math.max(1, Math.ceil(manifests.length / size))
        manifests = manifests.slice((n - 1) * size, n * size)
        const next = link
          ? link(n, pages, referrers[1])
          : n < pages
            ? `<${referrers[1]}?page=${n + 1}>; rel="next"`
            : undefined
        if (next) headers.Link = next
      }
      const body = JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests
      })
      res.writeHead(200, headers)
      res.end(body)
      return
    }
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      const put = req.method === 'PUT' && /^\/v2\/(.+)\/manifests\//.exec(req.url ?? '')
      let subject: string | undefined
      if (put) {
        const doc = JSON.parse(body.toString('utf8'))
        if (doc.subject?.digest) {
          subject = doc.subject.digest
          const key = `${put[1]}@${subject}`
          const entry = {
            mediaType: doc.mediaType,
            digest: 'sha256:' + createHash('sha256').update(body).digest('hex'),
            size: body.length,
            artifactType: doc.artifactType ?? doc.config?.mediaType,
            annotations: doc.annotations
          }
          listed.set(key, [
            ...(listed.get(key) ?? []).filter(
              e => (e as { digest: string }).digest !== entry.digest
            ),
            entry
          ])
        }
      }
      const up = http.request(
        {
          host: upHost,
          port: Number(upPort),
          method: req.method,
          path: req.url,
          headers: req.headers
        },
        upRes => {
          const headers = { ...upRes.headers }
          if (subject && upRes.statusCode === 201) headers['oci-subject'] = subject
          res.writeHead(upRes.statusCode ?? 502, headers)
          upRes.pipe(res)
        }
      )
      up.on('error', () => res.destroy())
      up.end(body)
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
  const proxy: ReferrersProxy = {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    stop: () =>
      new Promise<void>(resolve => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
  }
  return proxy
}
