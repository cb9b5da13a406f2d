/** Sources that cannot be read end as findings in the report, which the gate then reads. */
import { beforeAll, describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs/promises'
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

describe('sources that cannot be read are findings in the report', () => {
  it('a layout whose index.json is not JSON: valid false, the finding in the report', async () => {
    const bad = path.join(tmp, 'badidx')
    const r0 = await cli(['build', '--layers', `${site}:/`, '--output', bad])
    expect(r0.code).toBe(0)
    await fs.writeFile(path.join(bad, 'index.json'), '{ not json')
    const r = await cli(['build', '--from', `oci:${bad}`, '--output', path.join(tmp, 'from-bad')])
    expect(r.code).toBe(1)
    expect(r.out.valid).toBe('false')
    const report = JSON.parse(await fs.readFile(r.out.report, 'utf8'))
    expect(report.valid).toBe(false)
    expect(report.findings).toContainEqual(
      expect.objectContaining({
        rule: 'json-invalid',
        location: expect.stringContaining('index.json')
      })
    )
  })

  it('an oci-archive that cannot be opened: a source-unreadable finding', async () => {
    const junk = path.join(tmp, 'junk.tar')
    await fs.writeFile(junk, Buffer.alloc(4096, 7))
    const r = await cli([
      'build',
      '--from',
      `oci-archive:${junk}`,
      '--output',
      path.join(tmp, 'from-junk')
    ])
    expect(r.code).toBe(1)
    const report = JSON.parse(await fs.readFile(r.out.report, 'utf8'))
    expect(report).toMatchObject({ valid: false, errors: 1 })
    expect(report.findings[0]).toMatchObject({
      rule: 'source-unreadable',
      location: `oci-archive:${junk}`
    })
    expect(r.err).toMatch(/source-unreadable/)
  })

  it('fail-on never: the step passes, valid says false', async () => {
    const bad = path.join(tmp, 'bad-ann')
    const r = await cli([
      'build',
      '--layers',
      `${site}:/`,
      '--annotations',
      'org.opencontainers.image.created=soon',
      '--fail-on',
      'never',
      '--output',
      bad
    ])
    expect(r.code).toBe(0)
    expect(r.out.valid).toBe('false')
  })
})
