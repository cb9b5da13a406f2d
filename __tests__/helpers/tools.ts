/**
 * Tests that need something outside Node: an external tool (skopeo, umoci, docker-registry, …) or
 * a file the machine provides (the image-spec corpus in ../shared). The test command
 * (scripts/test.sh) installs the tools and sets LADING_TEST_TOOLS=1: then a missing one FAILS the
 * tests that need it, naming it. A bare `jest` run without LADING_TEST_TOOLS reports them as
 * skipped. Either way a test never passes without having checked anything.
 */
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import { describe, it } from '@jest/globals'

/** A tool by its command name, or anything else a test needs, with how to tell it is there. */
export type Need = string | { name: string; present: () => boolean }

/** A file or directory the tests need, named by `name` in the failure. */
export function fileNeed(file: string, name = file): Need {
  return { name, present: () => fs.existsSync(file) }
}

const onPath = new Map<string, boolean>()

function isOnPath(bin: string): boolean {
  let known = onPath.get(bin)
  if (known === undefined) {
    try {
      execFileSync('sh', ['-c', 'command -v "$1"', 'sh', bin], { stdio: 'ignore' })
      known = true
    } catch {
      known = false
    }
    onPath.set(bin, known)
  }
  return known
}

/** The names of those of `needs` that are missing. */
export function missing(needs: Need[]): string[] {
  return needs
    .filter(n => (typeof n === 'string' ? !isOnPath(n) : !n.present()))
    .map(n => (typeof n === 'string' ? n : n.name))
}

/** Whether the test command asked for every tool to be there (LADING_TEST_TOOLS=1). */
export function toolsRequired(): boolean {
  return process.env.LADING_TEST_TOOLS === '1'
}

function requiredMessage(absent: string[]): string {
  return `needs ${absent.join(', ')}, which ${absent.length > 1 ? 'are' : 'is'} not installed (LADING_TEST_TOOLS=1 requires it)`
}

/**
 * Skip or fail (see the top of this file) a block of tests that needs `needs`. When they must be
 * there and are not, the block's tests are listed as skipped (its hooks, which would run the
 * missing tool, never run) beside one failing test that names what is missing.
 */
export function describeWithTools(needs: Need[], name: string, fn: () => void): void {
  const absent = missing(needs)
  if (!absent.length) return describe(name, fn)
  describe.skip(`${name} (needs ${absent.join(', ')})`, fn)
  if (toolsRequired())
    it(`${name}: ${absent.join(', ')}`, () => {
      throw new Error(requiredMessage(absent))
    })
}

type TestFn = Parameters<typeof it>[1]

/** Skip or fail (see the top of this file) one test that needs `needs`. */
export function itWithTools(needs: Need[], name: string, fn: TestFn, timeout?: number): void {
  const absent = missing(needs)
  if (!absent.length) return it(name, fn, timeout)
  if (!toolsRequired()) return it.skip(`${name} (needs ${absent.join(', ')})`, fn)
  it(name, () => {
    throw new Error(requiredMessage(absent))
  })
}
