import { describe, it, expect } from '@jest/globals'
import { checkEditableConfig } from '../../src/app/stages/editable-config.js'
import type { ConfigEdits } from '../../src/build/assemble.js'

const noEdits: ConfigEdits = { env: [], labels: {}, exposedPorts: [] }
const check = (config: unknown, edits: Partial<ConfigEdits> = {}) =>
  checkEditableConfig(config, { ...noEdits, ...edits }, 'the config X')

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
})
