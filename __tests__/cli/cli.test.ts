/** The CLI front end called wrongly: usage errors that say what to write instead. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as os from 'node:os'
import * as path from 'node:path'
import { cli } from '../helpers/cli.js'

let tmp: string
let site: string

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'lading-edge-'))
  site = path.join(tmp, 'site')
  await fs.mkdir(site)
  await fs.writeFile(path.join(site, 'index.html'), '<h1>hi</h1>\n')
})

afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true })
})

describe('inputs a user gets wrong', () => {
  it('a single-value CLI option given twice is a usage error, a list option may repeat', async () => {
    const r = await cli([
      'build',
      '--layers',
      `${site}:/`,
      '--output',
      path.join(tmp, 'a'),
      '--output',
      path.join(tmp, 'b')
    ])
    expect(r.code).toBe(2)
    expect(r.err).toMatch(/option --output is given twice; it takes one value/)
    const format = await cli(['build', '--layers', `${site}:/`, '--format', 'json'])
    expect(format.code).toBe(2)
    expect(format.err).toMatch(/build does not take --format/)
    const ok = await cli([
      'build',
      '--layers',
      `${site}:/a`,
      '--layers',
      `${site}:/b`,
      '--output',
      path.join(tmp, 'two-layers')
    ])
    expect(ok.code).toBe(0)
  })

  it.each([
    [['build', '--summary', 'true']],
    [['build', '--summary=false']],
    [['build', '--summary']],
    [['validate', 'oci:./x', '--summary', 'true']],
    [['inspect', 'oci:./x', '--summary=true']]
  ])('%j is a usage error: the CLI writes no job summary, and says what it prints', async args => {
    const output = path.join(tmp, 'summary-out')
    const r = await cli([...args, '--layers', `${site}:/`, '--output', output])
    expect(r.code).toBe(2)
    expect(r.err).toBe(
      "lading: --summary is the action's job summary (GITHUB_STEP_SUMMARY), which the CLI does not write: " +
        'build prints its outputs and findings, and writes the report beside the layout (OUTPUT-report.json); ' +
        'validate prints its report (--format json for all of it)\n'
    )
    await expect(fs.access(output)).rejects.toThrow()
  })

  it('lading validate on a file asks for its format', async () => {
    const file = path.join(tmp, 'image.tar')
    await fs.writeFile(file, 'not much')
    const r = await cli(['validate', file])
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/is a file; name its format: oci-archive:.* or docker-archive:/)
  })
})
