import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import * as fs from 'node:fs'
import * as https from 'node:https'
import * as net from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import { startTokenServer, type TokenServer } from './token-server.js'

export type RegistryAuth = 'none' | 'htpasswd' | 'token'

export interface TestRegistry {
  /** host:port on 127.0.0.1. */
  host: string
  auth: RegistryAuth
  username: string
  password: string
  tokenServer?: TokenServer
  /** The registry's own log (access log included), for observing what was requested. */
  log(): string
  stop(): Promise<void>
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
}

/** Whether the registry answers on `host` (any TLS certificate accepted: the test's own). */
function answers(host: string, tls: boolean): Promise<boolean> {
  if (!tls)
    return fetch(`http://${host}/v2/`).then(
      res => res.status === 200 || res.status === 401,
      () => false
    )
  return new Promise(resolve => {
    const req = https.get(`https://${host}/v2/`, { rejectUnauthorized: false }, res => {
      res.resume()
      resolve(res.statusCode === 200 || res.statusCode === 401)
    })
    req.on('error', () => resolve(false))
  })
}

async function waitForV2(
  host: string,
  child: ChildProcess,
  logFile: string,
  tls = false
): Promise<void> {
  const deadline = Date.now() + 15_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(
        `docker-registry exited (${child.exitCode}):\n${fs.readFileSync(logFile, 'utf8')}`
      )
    if (await answers(host, tls)) return
    await new Promise(r => setTimeout(r, 100))
  }
  throw new Error(`docker-registry on ${host} did not answer /v2/ within 15s`)
}

/**
 * Starts CNCF distribution (Debian's docker-registry) on a free loopback port with its own
 * storage, optionally behind htpasswd or bearer-token auth, and over TLS with `tls`'s PEM files.
 */
export async function startRegistry(
  auth: RegistryAuth = 'none',
  opts: { tls?: { certFile: string; keyFile: string } } = {}
): Promise<TestRegistry> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lading-registry-'))
  const port = await freePort()
  const host = `127.0.0.1:${port}`
  const username = 'lading'
  const password = 'pa55-' + Math.random().toString(36).slice(2)
  let tokenServer: TokenServer | undefined
  let authYaml = ''
  if (auth === 'htpasswd') {
    const file = path.join(dir, 'htpasswd')
    execFileSync('htpasswd', ['-Bbc', file, username, password], { stdio: 'ignore' })
    authYaml = `auth:\n  htpasswd:\n    realm: lading-test\n    path: ${file}\n`
  } else if (auth === 'token') {
    tokenServer = await startTokenServer(dir, { [username]: password })
    authYaml =
      `auth:\n  token:\n    realm: ${tokenServer.realm}\n    service: ${tokenServer.service}\n` +
      `    issuer: ${tokenServer.issuer}\n    rootcertbundle: ${tokenServer.certFile}\n`
  }
  const config = path.join(dir, 'config.yml')
  fs.writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n` +
      `storage:\n  filesystem:\n    rootdirectory: ${path.join(dir, 'data')}\n  delete:\n    enabled: true\n` +
      `http:\n  addr: ${host}\n` +
      (opts.tls
        ? `  tls:\n    certificate: ${opts.tls.certFile}\n    key: ${opts.tls.keyFile}\n`
        : '') +
      authYaml
  )
  const logFile = path.join(dir, 'registry.log')
  const out = fs.openSync(logFile, 'a')
  const child = spawn('/usr/bin/docker-registry', ['serve', config], {
    stdio: ['ignore', out, out]
  })
  fs.closeSync(out)
  try {
    await waitForV2(host, child, logFile, opts.tls !== undefined)
  } catch (err) {
    child.kill('SIGKILL')
    await tokenServer?.stop()
    fs.rmSync(dir, { recursive: true, force: true })
    throw err
  }
  return {
    host,
    auth,
    username,
    password,
    tokenServer,
    log: () => fs.readFileSync(logFile, 'utf8'),
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise(r => child.once('exit', r))
        child.kill('SIGTERM')
        await Promise.race([exited, new Promise(r => setTimeout(r, 5000).unref())])
        if (child.exitCode === null) child.kill('SIGKILL')
      }
      await tokenServer?.stop()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}
