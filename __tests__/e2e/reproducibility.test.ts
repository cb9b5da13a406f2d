/** The same image got several ways (one build, a copy, a merge of per-platform builds) has one digest. */
import { beforeAll, describe, expect, it } from '@jest/globals'
import * as path from 'node:path'
import { cli } from '../helpers/cli.js'
import { makeSite } from '../helpers/layer-tree.js'
import { trackedTempDirs } from '../helpers/transports-fixtures.js'

const tmpDirs = trackedTempDirs('lading-edge-')
let tmp: string
let site: string

beforeAll(async () => {
  tmp = await tmpDirs()
  site = await makeSite(tmp)
})

describe('reproducibility across the ways to get the same image', () => {
  it('one multi-platform build, a copy of its layout, and a merge of per-platform builds give one digest', async () => {
    const common = ['--layers', `${site}:/srv`, '--created', '1700000000']
    const one = await cli([
      'build',
      ...common,
      '--platforms',
      'linux/amd64,linux/arm64',
      '--output',
      path.join(tmp, 'one')
    ])
    expect(one.code).toBe(0)
    const copy = await cli([
      'build',
      '--from',
      `oci:${path.join(tmp, 'one')}`,
      '--created',
      '1700000000',
      '--output',
      path.join(tmp, 'copy')
    ])
    expect(copy.code).toBe(0)
    expect(copy.out.digest).toBe(one.out.digest)
    for (const arch of ['amd64', 'arm64']) {
      const r = await cli([
        'build',
        ...common,
        '--platforms',
        `linux/${arch}`,
        '--output',
        path.join(tmp, `m-${arch}`)
      ])
      expect(r.code).toBe(0)
    }
    const merged = await cli([
      'build',
      '--from',
      `oci:${path.join(tmp, 'm-amd64')}`,
      '--from',
      `oci:${path.join(tmp, 'm-arm64')}`,
      '--created',
      '1700000000',
      '--output',
      path.join(tmp, 'merged')
    ])
    expect(merged.code).toBe(0)
    expect(merged.out.digest).toBe(one.out.digest)
  })
})
