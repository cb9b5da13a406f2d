import { execFileSync } from 'node:child_process'

/**
 * Whether an external tool (skopeo, umoci, …) is installed. The test command sets
 * LADING_TEST_TOOLS=1 after installing them, and then a missing tool fails the test instead of
 * letting it pass without checking anything.
 */
export function haveTool(bin: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' })
    return true
  } catch {
    if (process.env.LADING_TEST_TOOLS === '1')
      throw new Error(`${bin} is required (LADING_TEST_TOOLS=1) but is not installed`)
    return false
  }
}
