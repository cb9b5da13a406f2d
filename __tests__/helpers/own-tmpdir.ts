/**
 * Points os.tmpdir() at a directory a test chooses, so that it can count what a run leaves there.
 * Setting TMPDIR in a test does not do it: Jest gives each test file its own copy of process.env,
 * which Node's os module never reads. Call before importing (dynamically) the code under test.
 */
import { jest } from '@jest/globals'
import * as realOs from 'node:os'

export function mockTmpdir(): { set(dir: string | undefined): void } {
  let dir: string | undefined
  const tmpdir = () => dir ?? realOs.tmpdir()
  jest.unstable_mockModule('node:os', () => ({ ...realOs, default: { ...realOs, tmpdir }, tmpdir }))
  return { set: d => void (dir = d) }
}
