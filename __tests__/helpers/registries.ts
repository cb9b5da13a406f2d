/**
 * Real registries for the registry tests: CNCF distribution on 127.0.0.1 without auth, behind
 * htpasswd and (when asked) behind a token server, each with a fault proxy in front. Call
 * useRegistries() inside the describe block that needs them (a describeWithTools block, so the
 * registries start only when the tools are there); they are started before its tests and stopped
 * after them. useRegistry() is one registry alone, the same way.
 */
import { afterAll, beforeAll } from '@jest/globals'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { startFaultProxy, type FaultProxy, type SeenRequest } from './fault-proxy.js'
import { startRegistry, type RegistryAuth, type TestRegistry } from './registry-server.js'

/**
 * One registry (startRegistry(auth)) for the tests of the calling file or describe block: started
 * before them, stopped after. The object is filled in when the block starts, so read it in hooks
 * and tests, and start what goes in front of it (a proxy) in a beforeAll declared after this call.
 */
export function useRegistry(auth: RegistryAuth = 'none'): TestRegistry {
  const reg = {} as TestRegistry
  beforeAll(async () => {
    Object.assign(reg, await startRegistry(auth))
  })
  afterAll(async () => {
    await reg.stop?.()
  })
  return reg
}

/** Retries quick enough for tests, as many as production makes. */
export const fast = { baseDelayMs: 50, maxDelayMs: 500, attempts: 4, maxElapsedMs: 30_000 }

/** The requests a proxy has seen since it had seen `n`. */
export function since(p: FaultProxy, n: number): SeenRequest[] {
  return p.requests.slice(n)
}

/**
 * Points DOCKER_CONFIG at a directory that does not exist for the tests of the calling block, so
 * no docker config of the machine running them answers for their registries.
 */
export function isolateDockerConfig(): void {
  const saved = process.env.DOCKER_CONFIG
  let dir = ''
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lading-no-docker-config-'))
    process.env.DOCKER_CONFIG = path.join(dir, 'none')
  })
  afterAll(() => {
    if (saved === undefined) delete process.env.DOCKER_CONFIG
    else process.env.DOCKER_CONFIG = saved
    fs.rmSync(dir, { recursive: true, force: true })
  })
}

export interface Registries {
  plain: TestRegistry
  basic: TestRegistry
  /** Only with useRegistries({ token: true }). */
  token: TestRegistry
  /** In front of `plain`. */
  proxy: FaultProxy
  /** In front of `basic`; its storage host has its own way in, as signed storage URLs do. */
  basicProxy: FaultProxy
  /** A temp dir removed after the block. */
  tmp: string
  /** The username/password of `basic`, with quick retries. */
  creds(): { username: string; password: string; retry: typeof fast }
  /** A push or source log that fails the test on any password of these registries or its base64. */
  log(message: string): void
}

export function useRegistries(opts: { token?: boolean } = {}): Registries {
  const r = {} as Registries
  const secrets = (): string[] =>
    [r.basic, r.token]
      .filter(Boolean)
      .flatMap(reg => [
        reg.password,
        Buffer.from(`${reg.username}:${reg.password}`).toString('base64')
      ])
  r.creds = () => ({ username: r.basic.username, password: r.basic.password, retry: fast })
  r.log = message => {
    for (const s of secrets())
      if (message.includes(s)) throw new Error(`a log line shows a secret: ${message}`)
  }
  isolateDockerConfig()
  beforeAll(async () => {
    r.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lading-registries-'))
    ;[r.plain, r.basic] = await Promise.all([startRegistry('none'), startRegistry('htpasswd')])
    if (opts.token) r.token = await startRegistry('token')
    r.proxy = await startFaultProxy(r.plain.host)
    const storageAuth =
      'Basic ' + Buffer.from(`${r.basic.username}:${r.basic.password}`).toString('base64')
    r.basicProxy = await startFaultProxy(r.basic.host, storageAuth)
  })
  afterAll(async () => {
    await r.proxy?.stop()
    await r.basicProxy?.stop()
    await Promise.all([r.plain?.stop(), r.basic?.stop(), r.token?.stop()])
    if (r.tmp) fs.rmSync(r.tmp, { recursive: true, force: true })
  })
  return r
}
