import * as http from 'node:http'
import * as https from 'node:https'
import type { Duplex } from 'node:stream'
import * as tls from 'node:tls'
import { LadingError } from '../util/errors.js'

/**
 * Forward proxies, chosen as @actions/http-client chooses them, so a self-hosted runner behind a
 * proxy needs nothing more than the variables its other steps already use: `https_proxy` or
 * `HTTPS_PROXY` for https:// URLs, `http_proxy` or `HTTP_PROXY` for http:// ones (lower case
 * first), unless `no_proxy` or `NO_PROXY` lists the host, or the host is loopback (a registry
 * started by the job itself, which the proxy could not reach).
 */
export type ProxyEnv = Record<string, string | undefined>

/** The proxy a request to `url` goes through, or undefined for a direct connection. */
export function proxyFor(url: URL, env: ProxyEnv = process.env): URL | undefined {
  if (bypassesProxy(url, env)) return undefined
  const value =
    url.protocol === 'https:'
      ? env.https_proxy || env.HTTPS_PROXY
      : env.http_proxy || env.HTTP_PROXY
  if (!value) return undefined
  let proxy: URL
  try {
    proxy = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`)
  } catch {
    throw new LadingError(
      `the proxy for ${url.protocol}// URLs (${url.protocol === 'https:' ? 'HTTPS_PROXY' : 'HTTP_PROXY'}) ` +
        'is not a URL; set it to http://HOST:PORT'
    )
  }
  if (proxy.protocol !== 'http:' && proxy.protocol !== 'https:')
    throw new LadingError(
      `the proxy ${proxyName(proxy)} is a ${proxy.protocol.slice(0, -1)} proxy; Lading speaks ` +
        'to http:// and https:// proxies only'
    )
  return proxy
}

function isLoopbackName(hostname: string): boolean {
  const h = hostname.toLowerCase()
  return h === 'localhost' || h.startsWith('127.') || h === '[::1]' || h === '[0:0:0:0:0:0:0:1]'
}

/**
 * NO_PROXY's rules: `*` for every host; a name matches itself and its subdomains (`example.com`
 * and `.example.com` both cover `a.example.com`); `host:port` matches that port only. Case is
 * ignored; the port of a URL without one is its scheme's.
 */
export function bypassesProxy(url: URL, env: ProxyEnv = process.env): boolean {
  if (!url.hostname) return false
  if (isLoopbackName(url.hostname)) return true
  const noProxy = env.no_proxy || env.NO_PROXY || ''
  const host = url.hostname.toUpperCase()
  const port = url.port || (url.protocol === 'https:' ? '443' : '80')
  const names = [host, `${host}:${port}`]
  return noProxy
    .split(',')
    .map(entry => entry.trim().toUpperCase())
    .filter(entry => entry !== '')
    .some(
      entry =>
        entry === '*' ||
        names.some(
          name => name === entry || name.endsWith(entry.startsWith('.') ? entry : `.${entry}`)
        )
    )
}

/** The proxy's own credentials, from its URL's userinfo: only ever sent to the proxy. */
export function proxyAuthorization(proxy: URL): Record<string, string> {
  if (!proxy.username && !proxy.password) return {}
  const pair = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`
  return { 'Proxy-Authorization': `Basic ${Buffer.from(pair).toString('base64')}` }
}

/** `HOST:PORT` of a proxy, the form messages use (never its userinfo). */
function proxyName(proxy: URL): string {
  return `${proxy.protocol}//${proxy.host}`
}

/**
 * An https agent whose connections are tunnels through the proxy (CONNECT), with TLS to the
 * registry inside: the proxy sees the host and port, never a header or a byte of the exchange, so
 * the registry's credentials stay between Lading and the registry. Kept alive and pooled per
 * registry host like the direct agent.
 */
class TunnelAgent extends https.Agent {
  constructor(private readonly proxy: URL) {
    super({ keepAlive: true, maxSockets: 32 })
  }

  override createConnection(
    options: tls.ConnectionOptions & { host?: string; port?: number },
    done: (err: Error | null, socket?: Duplex) => void
  ): undefined {
    const target = `${options.host}:${options.port ?? 443}`
    const lib = this.proxy.protocol === 'https:' ? https : http
    const connect = lib.request({
      ...endpoint(this.proxy),
      method: 'CONNECT',
      path: target,
      headers: { Host: target, ...proxyAuthorization(this.proxy) },
      agent: false
    })
    let settled = false
    const fail = (err: Error) => {
      if (settled) return
      settled = true
      done(err)
    }
    connect.setTimeout(60_000, () =>
      connect.destroy(
        Object.assign(new Error(`CONNECT ${target} through ${proxyName(this.proxy)} timed out`), {
          code: 'ETIMEDOUT'
        })
      )
    )
    connect.once('error', fail)
    connect.once('connect', (res, socket) => {
      connect.setTimeout(0)
      if (res.statusCode !== 200) {
        socket.destroy()
        fail(tunnelRefused(this.proxy, target, res.statusCode ?? 0, res.statusMessage))
        return
      }
      settled = true
      done(null, tls.connect({ ...options, socket }))
    })
    connect.end()
    return undefined
  }
}

/** A proxy that refuses the tunnel: its 4xx is the same on every attempt, a 5xx may pass. */
function tunnelRefused(proxy: URL, target: string, status: number, text?: string): Error {
  const said = `the proxy ${proxyName(proxy)} answered ${status}${text ? ` ${text}` : ''} to CONNECT ${target}`
  if (status === 407)
    return new LadingError(
      `${said}: it wants credentials; put them in the proxy URL (http://USER:PASSWORD@HOST:PORT)`
    )
  if (status >= 400 && status < 500)
    return new LadingError(
      `${said}: it does not let Lading through to ${target}; ask its operator to allow it, or ` +
        'list the host in NO_PROXY if it is reached directly'
    )
  return new Error(said)
}

const tunnels = new Map<string, TunnelAgent>()
const forwarders = {
  http: new http.Agent({ keepAlive: true, maxSockets: 32 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 32 })
}

/**
 * How a request to `url` goes through `proxy`: an https URL through a CONNECT tunnel, an http URL
 * as an absolute-URI request to the proxy (the proxy reads it, as it must for plain HTTP). The
 * options name every field, so the proxy URL's userinfo never becomes an Authorization header.
 */
export function viaProxy(
  url: URL,
  proxy: URL,
  headers: Record<string, string>
): { lib: typeof http | typeof https; options: http.RequestOptions } {
  if (url.protocol === 'https:') {
    let agent = tunnels.get(proxy.href)
    if (!agent) tunnels.set(proxy.href, (agent = new TunnelAgent(proxy)))
    return {
      lib: https,
      options: { ...endpoint(url), path: url.pathname + url.search, headers, agent }
    }
  }
  const isHttps = proxy.protocol === 'https:'
  return {
    lib: isHttps ? https : http,
    options: {
      ...endpoint(proxy),
      path: url.href,
      headers: { ...headers, Host: url.host, ...proxyAuthorization(proxy) },
      agent: isHttps ? forwarders.https : forwarders.http
    }
  }
}

/** Host and port to connect to, brackets of an IPv6 literal removed. */
function endpoint(u: URL): { host: string; port: number } {
  const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port }
}
