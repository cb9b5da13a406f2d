import * as path from 'node:path'
import { main } from '../../src/cli/cli.js'

/** The bundled CLI, for tests that need a real process (signals, the whole environment). */
export const bundledCli = path.resolve(import.meta.dirname, '..', '..', 'dist', 'cli', 'index.js')

export interface CliRun {
  code: number
  /** The `name: value` lines `lading build` prints, by name. */
  out: Record<string, string>
  stdout: string
  /** What was written to stdout as bytes (--raw, --config), exactly. */
  bytes: Buffer
  err: string
}

/** Runs the CLI in-process, with only PATH (and `env`) in its environment. */
export async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  let stdout = ''
  let err = ''
  const chunks: Buffer[] = []
  const code = await main(
    args,
    { out: s => (stdout += s), bytes: b => chunks.push(Buffer.from(b)), err: s => (err += s) },
    { PATH: process.env.PATH, ...env }
  )
  const out = Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .filter(l => l.includes(': '))
      .map(l => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)])
  )
  return { code, out, stdout, bytes: Buffer.concat(chunks), err }
}
