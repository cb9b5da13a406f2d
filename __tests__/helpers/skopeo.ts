import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { promisify } from 'node:util'
import type { TestRegistry } from './registry-server.js'

// Asynchronous: the token server runs in the test process and must answer skopeo meanwhile.
export async function skopeo(args: string[]): Promise<Buffer> {
  const { stdout } = await promisify(execFile)('skopeo', args, {
    maxBuffer: 64 * 1024 * 1024,
    encoding: 'buffer'
  })
  return stdout
}

export function credsArgs(reg: TestRegistry, flag: string): string[] {
  return reg.auth === 'none' ? [] : [flag, `${reg.username}:${reg.password}`]
}

/** The digest skopeo sees for a reference: sha256 of the raw manifest it fetches. */
export async function remoteDigest(reg: TestRegistry, ref: string): Promise<string> {
  const raw = await skopeo([
    'inspect',
    '--raw',
    '--tls-verify=false',
    ...credsArgs(reg, '--creds'),
    `docker://${ref}`
  ])
  return 'sha256:' + createHash('sha256').update(raw).digest('hex')
}
