/**
 * The README's workflows, as a user copies them: every step that uses Lading has inputs the
 * action knows, and they make a plan (the inputs' syntax and combinations are right for this
 * version). What GitHub would put in `${{ … }}` is given plausible values.
 */
import { describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { isInputName, withDefaults, type GivenInputs } from '../../src/app/inputs.js'
import { makePlan } from '../../src/app/plan.js'

const README = path.resolve(import.meta.dirname, '..', '..', 'README.md')

/** What a workflow expression stands for: by its name, else by the input it is given to. */
function expressionValue(input: string, expr: string): string {
  const known: Record<string, string> = {
    'github.repository': 'o/app',
    'github.sha': '0123abcd',
    'env.IMAGE': 'ghcr.io/o/app',
    'steps.repo.outputs.name': 'ghcr.io/o/app',
    'steps.meta.outputs.tags': 'ghcr.io/o/app:1',
    'steps.meta.outputs.labels': 'org.opencontainers.image.title=app',
    'steps.meta.outputs.annotations': 'manifest:org.opencontainers.image.title=app'
  }
  if (known[expr]) return known[expr]
  if (expr.includes('!=') || expr.includes('==')) return 'true'
  if (input === 'from') return 'ghcr.io/o/app@sha256:' + 'a'.repeat(64)
  if (input === 'platforms') return 'linux/arm64'
  if (input === 'tags') return 'ghcr.io/o/app:1'
  return 'x'
}

function substitute(input: string, value: string): string {
  return value.replace(/\$\{\{\s*([^}]*?)\s*\}\}/g, (_m, expr: string) =>
    expressionValue(input, expr)
  )
}

function unquote(v: string): string {
  const t = v.trim()
  if ((t.startsWith("'") && t.endsWith("'")) || (t.startsWith('"') && t.endsWith('"')))
    return t.slice(1, -1)
  return t
}

/** The `with:` inputs of each step that uses Lading, in the README's yaml blocks. */
export function ladingSteps(markdown: string): GivenInputs[] {
  const steps: GivenInputs[] = []
  for (const block of markdown.matchAll(/```yaml\n([\s\S]*?)```/g)) {
    const lines = block[1].split('\n')
    lines.forEach((line, i) => {
      if (!/uses: \S*lading@/.test(line)) return
      const stepIndent = line.search(/\S/)
      const withLine = lines.findIndex((l, j) => j > i && /^\s*with:\s*$/.test(l))
      const next = lines.findIndex(
        (l, j) => j > i && /^\s*- /.test(l) && l.search(/\S/) <= stepIndent
      )
      if (withLine < 0 || (next >= 0 && withLine > next)) return
      steps.push(withInputs(lines, withLine))
    })
  }
  return steps
}

function withInputs(lines: string[], withLine: number): GivenInputs {
  const inputs: Record<string, string> = {}
  const indent = lines[withLine + 1]?.search(/\S/) ?? 0
  for (let j = withLine + 1; j < lines.length; j++) {
    const l = lines[j]
    if (l.trim() === '') continue
    if (l.search(/\S/) < indent) break
    const m = /^\s*([a-z-]+):\s?(.*)$/.exec(l)
    if (!m || l.search(/\S/) !== indent) continue
    const [, key, rest] = m
    if (rest.trim() === '|') {
      const body: string[] = []
      while (
        j + 1 < lines.length &&
        (lines[j + 1].trim() === '' || lines[j + 1].search(/\S/) > indent)
      )
        body.push(lines[++j].trim())
      inputs[key] = body.join('\n')
    } else inputs[key] = unquote(rest.replace(/\s+#.*$/, ''))
  }
  return inputs as GivenInputs
}

describe('the README workflows', () => {
  const steps = ladingSteps(fs.readFileSync(README, 'utf8'))

  it('have Lading steps to check', () => {
    expect(steps.length).toBeGreaterThanOrEqual(4)
  })

  it.each(steps.map((s, i) => [i, s] as const))(
    'step %d uses inputs the action has',
    (_i, step) => {
      for (const name of Object.keys(step)) expect([name, isInputName(name)]).toEqual([name, true])
    }
  )

  it.each(steps.map((s, i) => [i, s] as const))('step %d makes a plan', (_i, step) => {
    const given: Record<string, string> = {}
    for (const [k, v] of Object.entries(step)) given[k] = substitute(k, v as string)
    // The files a step attaches are made by its workflow's earlier steps: here, empty ones.
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'lading-readme-'))
    for (const line of (given.attach ?? '').split('\n').filter(Boolean))
      fs.writeFileSync(path.join(cwd, line.split(':')[0]), '{}')
    try {
      expect(() => makePlan(withDefaults(given as GivenInputs), {}, cwd)).not.toThrow()
    } finally {
      fs.rmSync(cwd, { recursive: true, force: true })
    }
  })

  it('finds a step and its inputs as a user wrote them (the parser itself)', () => {
    const md = [
      '```yaml',
      'steps:',
      '  - uses: OWNER/lading@v1',
      '    with:',
      '      layers: |',
      '        dist:/app',
      '        static:/srv',
      '      cmd: \'["node"]\'',
      "      push: ${{ github.event_name != 'pull_request' }}",
      '  - run: echo done',
      '```'
    ].join('\n')
    expect(ladingSteps(md)).toEqual([
      {
        layers: 'dist:/app\nstatic:/srv',
        cmd: '["node"]',
        push: "${{ github.event_name != 'pull_request' }}"
      }
    ])
  })
})
