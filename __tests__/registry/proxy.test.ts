import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as net from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import * as tls from 'node:tls'
import { parseReference } from '../../src/oci/reference.js'
import { send } from '../../src/registry/http.js'
import { bypassesProxy, proxyFor } from '../../src/registry/proxy.js'
import { pushImage } from '../../src/registry/index.js'
import { RegistrySource } from '../../src/registry/source.js'
import { LadingError } from '../../src/util/errors.js'
import { makeImage, requestFor } from '../helpers/push-image.js'
import { startRegistry, type TestRegistry } from '../helpers/registry-server.js'
import { describeWithTools, missing } from '../helpers/tools.js'
import { startTinyproxy, type Tinyproxy } from '../helpers/tinyproxy.js'

const url = (s: string) => new URL(s)

describe('proxyFor', () => {
  it('takes the lower-case variable first, per scheme, and adds http:// to a bare host:port', () => {
    const env = {
      https_proxy: 'proxy.lan:3128',
      HTTPS_PROXY: 'http://other:1',
      HTTP_PROXY: 'http://plain:8080'
    }
    expect(proxyFor(url('https://ghcr.io/v2/'), env)?.href).toBe('http://proxy.lan:3128/')
    expect(proxyFor(url('http://registry.lan:5000/v2/'), env)?.href).toBe('http://plain:8080/')
    expect(proxyFor(url('http://registry.lan/v2/'), { HTTPS_PROXY: 'http://p:1' })).toBeUndefined()
  })

  it('never proxies loopback, as @actions/http-client', () => {
    const env = { HTTP_PROXY: 'http://p:1', HTTPS_PROXY: 'http://p:1' }
    for (const u of ['http://localhost:5000/', 'http://127.0.0.1:5000/', 'https://[::1]:5000/'])
      expect(proxyFor(url(u), env)).toBeUndefined()
  })

  it('refuses a proxy it cannot speak to', () => {
    expect(() => proxyFor(url('https://ghcr.io/'), { HTTPS_PROXY: 'socks5://p:1080' })).toThrow(
      /socks5 proxy; Lading speaks to http:\/\/ and https:\/\/ proxies only/
    )
  })
})

describe('bypassesProxy', () => {
  const at = (noProxy: string, u: string) => bypassesProxy(url(u), { NO_PROXY: noProxy })
  it('matches a host, its subdomains, with or without a leading dot, in any case', () => {
    expect(at('example.com', 'https://example.com/')).toBe(true)
    expect(at('example.com', 'https://a.b.EXAMPLE.com/')).toBe(true)
    expect(at('.example.com', 'https://a.example.com/')).toBe(true)
    expect(at('example.com', 'https://notexample.com/')).toBe(false)
    expect(at(' other.org , Example.COM ', 'https://example.com/')).toBe(true)
  })

  it('matches host:port on that port only, the scheme giving the default port', () => {
    expect(at('r.lan:5000', 'http://r.lan:5000/')).toBe(true)
    expect(at('r.lan:5000', 'http://r.lan:5001/')).toBe(false)
    expect(at('r.lan:443', 'https://r.lan/')).toBe(true)
    expect(at('r.lan:80', 'http://r.lan/')).toBe(true)
  })

  it('bypasses everything with *, and takes no_proxy before NO_PROXY', () => {
    expect(at('*', 'https://ghcr.io/')).toBe(true)
    expect(bypassesProxy(url('https://ghcr.io/'), { no_proxy: 'x.org', NO_PROXY: '*' })).toBe(false)
  })
})

/** A proxy that records what it is sent and refuses every CONNECT with `status`. */
async function recordingProxy(status: number) {
  const received: Buffer[] = []
  const server = net.createServer(socket => {
    socket.on('data', chunk => {
      received.push(chunk)
      if (Buffer.concat(received).includes('\r\n\r\n'))
        socket.end(`HTTP/1.1 ${status} No\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`)
    })
  })
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as net.AddressInfo).port
  return {
    port,
    text: () => Buffer.concat(received).toString('latin1'),
    stop: () => new Promise(r => server.close(r))
  }
}

describe('send through a proxy', () => {
  it('tunnels https with CONNECT: the registry credentials stay inside, the proxy gets its own', async () => {
    const proxy = await recordingProxy(407)
    try {
      const err = await send(
        {
          method: 'GET',
          url: url('https://registry.example:8443/v2/'),
          headers: { Authorization: 'Bearer registry-secret' }
        },
        { HTTPS_PROXY: `http://pu:p%40ss@127.0.0.1:${proxy.port}` }
      ).then(
        () => new Error('no error'),
        (e: unknown) => e as Error
      )
      expect(err).toBeInstanceOf(LadingError)
      expect(err.message).toMatch(
        /answered 407 .*CONNECT registry\.example:8443: it wants credentials/
      )
      expect(err.message).not.toContain('p%40ss')
      expect(err.message).not.toContain('p@ss')
      const sent = proxy.text()
      expect(sent).toMatch(/^CONNECT registry\.example:8443 HTTP\/1\.1\r\n/)
      expect(sent).toContain(
        `Proxy-Authorization: Basic ${Buffer.from('pu:p@ss').toString('base64')}`
      )
      expect(sent).not.toMatch(/^Authorization:/im)
      expect(sent).not.toContain('registry-secret')
    } finally {
      await proxy.stop()
    }
  })

  it('sends no Proxy-Authorization when the proxy URL has no userinfo', async () => {
    const proxy = await recordingProxy(403)
    try {
      const err = await send(
        { method: 'GET', url: url('https://registry.example/v2/'), headers: {} },
        { https_proxy: `127.0.0.1:${proxy.port}` }
      ).then(
        () => new Error('no error'),
        (e: unknown) => e as Error
      )
      expect(err.message).toMatch(
        /answered 403 .*does not let Lading through to registry\.example:443/
      )
      expect(proxy.text()).not.toMatch(/proxy-authorization/i)
    } finally {
      await proxy.stop()
    }
  })
})

// A registry on loopback is never proxied (proxyFor), so the tests name it 0.0.0.0, which
// reaches the same loopback listener on Linux and macOS but is not a loopback name.
/** A block of tests that need a real registry and a real forward proxy. */
const d = (name: string, fn: () => void) =>
  describeWithTools(['docker-registry', 'htpasswd', 'tinyproxy', 'openssl'], name, fn)
const PROXY_VARS = [
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'http_proxy',
  'https_proxy',
  'no_proxy'
]
const savedEnv = Object.fromEntries(PROXY_VARS.map(k => [k, process.env[k]]))

let tmp: string
let plain: TestRegistry
let secure: TestRegistry
let plainProxy: Tinyproxy
let authProxy: Tinyproxy
const defaultCAs = tls.getCACertificates('default')
const proxyAuth = { user: 'proxy-user', password: 'proxy-pa55' }
const logs: string[] = []
const log = (m: string) => logs.push(m)

function setProxyEnv(vars: Record<string, string>) {
  for (const k of PROXY_VARS) delete process.env[k]
  Object.assign(process.env, vars)
}

beforeAll(async () => {
  // Without the tools the blocks that need them fail (npm test) or are skipped: nothing to start.
  if (missing(['docker-registry', 'htpasswd', 'tinyproxy', 'openssl']).length) return
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lading-proxy-test-'))
  const certFile = path.join(tmp, 'cert.pem')
  const keyFile = path.join(tmp, 'key.pem')
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      '/CN=lading-test',
      '-addext',
      'subjectAltName=IP:0.0.0.0,IP:127.0.0.1'
    ],
    { stdio: 'ignore' }
  )
  // The test registry's certificate is trusted as a system CA would be (NODE_EXTRA_CA_CERTS).
  tls.setDefaultCACertificates([...defaultCAs, fs.readFileSync(certFile, 'utf8')])
  ;[plain, secure] = await Promise.all([
    startRegistry('none'),
    startRegistry('htpasswd', { tls: { certFile, keyFile } })
  ])
  const securePort = Number(secure.host.split(':')[1])
  ;[plainProxy, authProxy] = await Promise.all([
    startTinyproxy(),
    startTinyproxy({ connectPorts: [securePort], basicAuth: proxyAuth })
  ])
}, 60_000)

afterEach(() =>
  setProxyEnv(
    Object.fromEntries(
      Object.entries(savedEnv).filter((e): e is [string, string] => e[1] !== undefined)
    )
  )
)

afterAll(async () => {
  tls.setDefaultCACertificates(defaultCAs)
  await Promise.all([plainProxy?.stop(), authProxy?.stop(), plain?.stop(), secure?.stop()])
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true })
})

type Doc = { digest: string; mediaType: string; size: number }

/** Reads the image back from the registry, every manifest and every blob to its end. */
async function pull(ref: string, opts: Parameters<typeof RegistrySource.open>[1]) {
  const src = await RegistrySource.open(parseReference(ref), opts)
  let bytes = 0
  const visit = async (desc: Doc): Promise<void> => {
    const doc = JSON.parse((await src.read(desc)).toString('utf8')) as {
      manifests?: Doc[]
      config?: Doc
      layers?: Doc[]
    }
    for (const child of doc.manifests ?? []) await visit(child)
    for (const blob of [...(doc.config ? [doc.config] : []), ...(doc.layers ?? [])])
      for await (const chunk of await src.open(blob)) bytes += (chunk as Buffer).length
  }
  await visit(src.root)
  return { root: src.root.digest, bytes }
}

const port = (r: TestRegistry) => r.host.split(':')[1]

d('through tinyproxy', () => {
  it('pushes and pulls over plain HTTP with absolute-URI requests; NO_PROXY bypasses it', async () => {
    const host = `0.0.0.0:${port(plain)}`
    const opts = { insecureRegistries: [host], log }
    const img = await makeImage(path.join(tmp, 'plain'))
    setProxyEnv({ HTTP_PROXY: plainProxy.url })
    await pushImage(requestFor(img, [parseReference(`${host}/px/a:1`)]), opts)
    const pulled = await pull(`${host}/px/a:1`, opts)
    expect(pulled.root).toBe(img.root.digest)
    const seen = plainProxy.requests()
    expect(seen).toContain(`GET http://${host}/v2/ HTTP/1.1`)
    expect(seen).toContain(`PUT http://${host}/v2/px/a/manifests/1 HTTP/1.1`)
    expect(seen).toContain(`GET http://${host}/v2/px/a/manifests/1 HTTP/1.1`)
    for (const layer of img.layers)
      expect(seen).toContain(`GET http://${host}/v2/px/a/blobs/${layer.digest} HTTP/1.1`)
    expect(logs).toContain(`${host}: through the proxy ${plainProxy.url}`)

    for (const noProxy of ['0.0.0.0', `0.0.0.0:${port(plain)}`, '*']) {
      const before = plainProxy.requests().length
      setProxyEnv({ HTTP_PROXY: plainProxy.url, no_proxy: noProxy })
      expect((await pull(`${host}/px/a:1`, opts)).root).toBe(img.root.digest)
      expect(plainProxy.requests().length).toBe(before)
    }
  })

  it('leaves a loopback registry alone', async () => {
    const before = plainProxy.requests().length
    setProxyEnv({ HTTP_PROXY: plainProxy.url, HTTPS_PROXY: plainProxy.url })
    const img = await makeImage(path.join(tmp, 'loopback'))
    await pushImage(requestFor(img, [parseReference(`${plain.host}/px/lo:1`)]), { log })
    expect(plainProxy.requests().length).toBe(before)
  })

  it('pushes and pulls over TLS through a CONNECT tunnel, the proxy asking for its own credentials', async () => {
    const host = `0.0.0.0:${port(secure)}`
    const creds = { username: secure.username, password: secure.password, log }
    const img = await makeImage(path.join(tmp, 'tls'), {
      platforms: ['linux/amd64', 'linux/arm64']
    })
    const proxyUrl = new URL(authProxy.url)
    proxyUrl.username = proxyAuth.user
    proxyUrl.password = proxyAuth.password
    setProxyEnv({ HTTPS_PROXY: proxyUrl.href, NO_PROXY: 'example.com' })
    logs.length = 0
    await pushImage(requestFor(img, [parseReference(`${host}/px/t:1`)]), creds)
    const pulled = await pull(`${host}/px/t:1`, creds)
    expect(pulled.root).toBe(img.root.digest)
    const connects = authProxy.requests()
    expect(connects.length).toBeGreaterThan(0)
    expect(new Set(connects)).toEqual(new Set([`CONNECT ${host} HTTP/1.1`]))
    expect(logs.join('\n')).not.toContain(proxyAuth.password)
    expect(logs).toContain(`${host}: through the proxy ${authProxy.url}`)

    // The same proxy without its credentials: a clear refusal, not retried.
    setProxyEnv({ HTTPS_PROXY: authProxy.url })
    await expect(pull(`${host}/px/t:1`, creds)).rejects.toThrow(/answered 407.*wants credentials/)
  })
})
