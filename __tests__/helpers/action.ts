import * as fsSync from 'node:fs'
import * as path from 'node:path'
import { spawnSync } from 'node:child_process'

/** The bundled action; scripts/test.sh rebuilds dist/ before the tests. */
export const bundledAction = path.resolve(import.meta.dirname, '..', '..', 'dist', 'index.js')

/** Parses the `name<<delimiter` blocks @actions/core writes to GITHUB_OUTPUT. */
export function parseOutputs(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<]+)<<(.+)$/.exec(lines[i])
    if (!m) continue
    const value: string[] = []
    while (++i < lines.length && lines[i] !== m[2]) value.push(lines[i])
    out[m[1]] = value.join('\n')
  }
  return out
}

/**
 * Runs `node dist/index.js` in `dir` as the runner would: INPUT_* variables, GITHUB_OUTPUT,
 * GITHUB_STEP_SUMMARY and RUNNER_TEMP, with only PATH from this process. Anything else the
 * runner would set (HOME, GITHUB_REPOSITORY, …) comes from `extraEnv`, so each test states
 * what the action can see.
 */
export function runAction(
  dir: string,
  name: string,
  inputs: Record<string, string>,
  extraEnv: Record<string, string> = {}
) {
  const outFile = path.join(dir, `${name}.out`)
  const summary = path.join(dir, `${name}.md`)
  // The runner creates both files before the step starts; @actions/core appends to them.
  fsSync.writeFileSync(outFile, '')
  fsSync.writeFileSync(summary, '')
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    GITHUB_OUTPUT: outFile,
    GITHUB_STEP_SUMMARY: summary,
    RUNNER_TEMP: path.join(dir, `${name}-runner`),
    ...extraEnv
  }
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v
  const r = spawnSync(process.execPath, [bundledAction], {
    env,
    cwd: dir,
    encoding: 'utf8',
    timeout: 120000
  })
  return { ...r, outFile, summary }
}
