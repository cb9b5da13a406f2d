import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as net from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import { freePort } from './registry-server.js'

export interface Tinyproxy {
  /** http://127.0.0.1:PORT, without credentials. */
  url: string
  /** The proxy's log: one `Request (file descriptor N): METHOD TARGET` line per request. */
  log(): string
  /** The request lines of the log (`GET http://…`, `CONNECT host:port`). */
  requests(): string[]
  stop(): Promise<void>
}

/**
 * Starts Debian's tinyproxy on a free loopback port, in the foreground, allowing 127.0.0.1 and
 * CONNECT to `connectPorts` only; with `basicAuth`, it asks for those credentials (407 without).
 */
export async function startTinyproxy(
  opts: { connectPorts?: number[]; basicAuth?: { user: string; password: string } } = {}
): Promise<Tinyproxy> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lading-tinyproxy-'))
  const port = await freePort()
  const logFile = path.join(dir, 'tinyproxy.log')
  const conf = [
    `Port ${port}`,
    'Listen 127.0.0.1',
    'Allow 127.0.0.1',
    'Timeout 60',
    'MaxClients 64',
    'LogLevel Connect',
    `LogFile "${logFile}"`,
    ...(opts.connectPorts ?? []).map(p => `ConnectPort ${p}`),
    ...(opts.basicAuth ? [`BasicAuth ${opts.basicAuth.user} ${opts.basicAuth.password}`] : [])
  ]
  fs.writeFileSync(path.join(dir, 'tinyproxy.conf'), conf.join('\n') + '\n')
  const child = spawn('tinyproxy', ['-d', '-c', path.join(dir, 'tinyproxy.conf')], {
    stdio: 'ignore'
  })
  const deadline = Date.now() + 10_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`tinyproxy exited (${child.exitCode})`)
    const up = await new Promise<boolean>(resolve => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy()
        resolve(true)
      })
      s.on('error', () => resolve(false))
    })
    if (up) break
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`tinyproxy did not listen on 127.0.0.1:${port} within 10s`)
    }
    await new Promise(r => setTimeout(r, 50))
  }
  const log = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '')
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    requests: () =>
      log()
        .split('\n')
        .map(l => /Request \(file descriptor \d+\): (.*)$/.exec(l)?.[1])
        .filter((l): l is string => l !== undefined),
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise(r => child.once('exit', r))
        child.kill('SIGTERM')
        await Promise.race([exited, new Promise(r => setTimeout(r, 5000).unref())])
        if (child.exitCode === null) child.kill('SIGKILL')
      }
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}
