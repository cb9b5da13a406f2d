/**
 * The helper for tests that need an external tool: a missing tool fails them under the test
 * command (LADING_TEST_TOOLS=1) and skips them in a bare jest run, never passes them.
 */
import { describe, expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import * as fs from 'node:fs/promises'
import * as os from 'node:os'
import * as path from 'node:path'
import { promisify } from 'node:util'
import { fileNeed, missing } from './tools.js'

const repo = path.resolve(import.meta.dirname, '..', '..')

interface JestResult {
  fullName: string
  status: 'passed' | 'failed' | 'pending'
  failureMessages: string[]
}

/** Runs tools-fixture.ts in a jest of its own; returns its results by test name. */
async function runFixture(env: NodeJS.ProcessEnv): Promise<Map<string, JestResult>> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lading-tools-test-'))
  const out = path.join(dir, 'results.json')
  try {
    await promisify(execFile)(
      process.execPath,
      [
        path.join(repo, 'node_modules', 'jest', 'bin', 'jest.js'),
        '--testMatch',
        '**/helpers/tools-fixture.ts',
        '--json',
        '--outputFile',
        out
      ],
      {
        cwd: repo,
        env: { PATH: process.env.PATH, NODE_OPTIONS: '--experimental-vm-modules', ...env }
      }
    ).catch(() => {}) // jest exits 1 when a test fails; the results say which.
    const json = JSON.parse(await fs.readFile(out, 'utf8'))
    const results: JestResult[] = json.testResults[0].assertionResults
    return new Map(results.map(r => [r.fullName, r]))
  } finally {
    await fs.rm(dir, { recursive: true, force: true })
  }
}

describe('missing', () => {
  it('names the tools not on PATH and the files that do not exist', () => {
    expect(missing(['sh', 'lading-no-such-tool'])).toEqual(['lading-no-such-tool'])
    expect(missing([fileNeed('/nonexistent/x', 'the x file'), fileNeed(repo)])).toEqual([
      'the x file'
    ])
  })
})

describe('describeWithTools and itWithTools', () => {
  it('fail what needs a missing tool under LADING_TEST_TOOLS=1, naming it, and skip the block', async () => {
    const r = await runFixture({ LADING_TEST_TOOLS: '1' })
    const status = Object.fromEntries([...r].map(([name, x]) => [name, x.status]))
    expect(status).toEqual({
      'a block that needs it (needs lading-no-such-tool) first': 'pending',
      'a block that needs it (needs lading-no-such-tool) second': 'pending',
      'a block that needs it: lading-no-such-tool': 'failed',
      'a test that needs it': 'failed',
      'a test that needs a file': 'failed',
      'a test whose tool is there': 'passed'
    })
    expect(r.get('a block that needs it: lading-no-such-tool')!.failureMessages[0]).toContain(
      'needs lading-no-such-tool, which is not installed'
    )
    expect(r.get('a test that needs it')!.failureMessages[0]).toContain('lading-no-such-tool')
    expect(r.get('a test that needs a file')!.failureMessages[0]).toContain('the lading corpus')
  })

  it('skip what needs a missing tool in a bare jest run, and never pass it', async () => {
    const r = await runFixture({})
    const status = Object.fromEntries([...r].map(([name, x]) => [name, x.status]))
    expect(status).toEqual({
      'a block that needs it (needs lading-no-such-tool) first': 'pending',
      'a block that needs it (needs lading-no-such-tool) second': 'pending',
      'a test that needs it (needs lading-no-such-tool)': 'pending',
      'a test that needs a file (needs the lading corpus)': 'pending',
      'a test whose tool is there': 'passed'
    })
  })
})
