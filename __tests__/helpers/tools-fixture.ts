/**
 * Run by tools.test.ts in a jest of its own (its name does not end in .test.ts, so the suite never
 * runs it directly): tests that need a tool no machine has.
 */
import { expect, it } from '@jest/globals'
import { describeWithTools, fileNeed, itWithTools } from './tools.js'

const NONE = 'lading-no-such-tool'

describeWithTools([NONE, 'sh'], 'a block that needs it', () => {
  it('first', () => expect(true).toBe(true))
  it('second', () => expect(true).toBe(true))
})

itWithTools([NONE], 'a test that needs it', () => expect(true).toBe(true))

itWithTools(
  [fileNeed('/nonexistent/lading-corpus', 'the lading corpus')],
  'a test that needs a file',
  () => expect(true).toBe(true)
)

itWithTools(['sh'], 'a test whose tool is there', () => expect(true).toBe(true))
