import { execFileSync } from 'node:child_process'

/**
 * Those of `bins` that are not installed. Never throws: for suites that decide themselves how a
 * missing tool fails under LADING_TEST_TOOLS=1 (a failing test rather than a failing file).
 */
export function missingTools(bins: string[]): string[] {
  return bins.filter(bin => {
    try {
      execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' })
      return false
    } catch {
      return true
    }
  })
}

/**
 * Whether an external tool (skopeo, umoci, …) is installed. The test command sets
 * LADING_TEST_TOOLS=1 after installing them, and then a missing tool fails the test instead of
 * letting it pass without checking anything.
 */
export function haveTool(bin: string): boolean {
  if (missingTools([bin]).length === 0) return true
  if (process.env.LADING_TEST_TOOLS === '1')
    throw new Error(`${bin} is required (LADING_TEST_TOOLS=1) but is not installed`)
  return false
}
