import { describe, it, expect } from '@jest/globals'
import {
  MAX_CONFIG_DEPTH,
  checkEditableConfig,
  jsonDepth
} from '../../src/app/stages/editable-config.js'
import type { ConfigEdits } from '../../src/build/assemble.js'

const noEdits: ConfigEdits = { env: [], labels: {}, exposedPorts: [] }
const check = (config: unknown, edits: Partial<ConfigEdits> = {}, bytes?: string) =>
  checkEditableConfig(
    Buffer.from(bytes ?? JSON.stringify(config)),
    config,
    { ...noEdits, ...edits },
    'the config X'
  )

describe('jsonDepth', () => {
  it('counts nesting outside strings, without recursion', () => {
    expect(jsonDepth(Buffer.from('1'))).toBe(0)
    expect(jsonDepth(Buffer.from('{"a":[{"b":"[[[{{{"}]}'))).toBe(3)
    expect(jsonDepth(Buffer.from('["\\"[[[", []]'))).toBe(2)
    expect(jsonDepth(Buffer.from('['.repeat(1e6) + ']'.repeat(1e6)))).toBe(1e6)
  })
})

describe('checkEditableConfig', () => {
  it('accepts a config of the right shape, and missing members', () => {
    expect(() =>
      check(
        { config: { Env: ['A=1'], Labels: {} }, rootfs: { diff_ids: [] }, history: [] },
        { env: [['B', '2']], labels: { l: 'v' }, exposedPorts: ['80/tcp'] }
      )
    ).not.toThrow()
    expect(() => check({}, { env: [['B', '2']] })).not.toThrow()
  })

  it.each([
    [
      { config: { Env: 'PATH=/bin' } },
      { env: [['A', '1']] },
      '`config.Env` is not a list of strings'
    ],
    [{ config: { Env: [1] } }, { env: [['A', '1']] }, '`config.Env` is not a list of strings'],
    [{ config: { Labels: [] } }, { labels: { a: 'b' } }, '`config.Labels` is not an object'],
    [{ config: { ExposedPorts: 'x' } }, { exposedPorts: ['80'] }, '`config.ExposedPorts`'],
    [{ rootfs: { diff_ids: 7 } }, {}, '`rootfs.diff_ids` is not a list'],
    [{ history: {} }, {}, '`history` is not a list'],
    [{ config: 'x' }, {}, '`config` is not an object'],
    [[], {}, '`(top level)` is not an object']
  ] as [unknown, Partial<ConfigEdits>, string][])('refuses %j with %j', (config, edits, msg) => {
    expect(() => check(config, edits)).toThrow(`the config X: its ${msg}`)
  })

  it('refuses a config nested deeper than MAX_CONFIG_DEPTH', () => {
    const deep = '['.repeat(MAX_CONFIG_DEPTH) + ']'.repeat(MAX_CONFIG_DEPTH)
    expect(() => check({}, {}, `{"a":${deep}}`)).toThrow(
      `the config X nests ${MAX_CONFIG_DEPTH + 1} levels deep`
    )
    expect(() => check({}, {}, `{"a":${deep.slice(1, -1)}}`)).not.toThrow()
  })
})
