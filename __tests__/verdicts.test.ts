/**
 * Verify once per job: a layout an earlier Lading step wrote or checked is not read again to be
 * checked, as long as its files are unchanged; a file touched or rewritten since, or a layout from
 * elsewhere, is checked in full; a corrupt or foreign verdict file is ignored.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as os from 'node:os'
import * as path from 'node:path'
import { cli as runCli } from './helpers/cli.js'
import { FileVerdicts } from '../src/transports/verdicts.js'
import type { BlobScan } from '../src/oci/scan.js'

let tmp: string
let runnerTemp: string
const cli = (args: string[]) => runCli(args, { HOME: tmp, RUNNER_TEMP: runnerTemp })

/** How many blobs the run took from earlier steps' verdicts (0 when it says nothing of them). */
function fromVerdicts(err: string): number {
  const m = /(\d+) blob\(s\) of this run were checked by an earlier Lading step/.exec(err)
  return m ? Number(m[1]) : 0
}

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'lading-verdicts-'))
  runnerTemp = path.join(tmp, 'runner-temp')
  await fs.mkdir(runnerTemp)
  const app = path.join(tmp, 'app')
  await fs.mkdir(app)
  await fs.writeFile(path.join(app, 'a.txt'), 'a\n'.repeat(1000))
  await fs.writeFile(path.join(app, 'b.txt'), 'b\n')
})
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true })
})

describe('verdicts of earlier steps', () => {
  it('takes an unchanged layout from the verdicts, and checks a changed file or a copied layout again', async () => {
    const built = path.join(tmp, 'built')
    const first = await cli(['build', '--layers', path.join(tmp, 'app'), '--output', built])
    expect(first.code).toBe(0)
    expect(fromVerdicts(first.err)).toBe(0)
    const layer = JSON.parse(
      await fs.readFile(path.join(built, 'blobs', 'sha256', first.out.digest.slice(7)), 'utf8')
    ).layers[0].digest as string
    const layerFile = path.join(built, 'blobs', 'sha256', layer.slice(7))

    // The next step reads the layout as its base: its layer was checked as it was built (the
    // documents, small, are read again whatever happens).
    const second = await cli(['build', '--from', `oci:${built}`, '--output', path.join(tmp, 'o2')])
    expect(second.code).toBe(0)
    expect(fromVerdicts(second.err)).toBe(1)
    expect(second.err).toMatch(/validated the assembled layout: 0 blob\(s\) read/)
    const third = await cli(['build', '--from', `oci:${built}`, '--output', path.join(tmp, 'o3')])
    expect(fromVerdicts(third.err)).toBe(1)

    // Touched: same bytes, but nothing says they are: read again.
    const later = new Date(Date.now() + 5000)
    await fs.utimes(layerFile, later, later)
    const touched = await cli(['build', '--from', `oci:${built}`, '--output', path.join(tmp, 'o4')])
    expect(touched.code).toBe(0)
    expect(fromVerdicts(touched.err)).toBe(0)

    // Rewritten in place with other bytes: read again, and found wrong.
    const bytes = await fs.readFile(layerFile)
    bytes[bytes.length - 1] ^= 0xff
    await fs.writeFile(layerFile, bytes)
    const broken = await cli(['build', '--from', `oci:${built}`, '--output', path.join(tmp, 'o5')])
    expect(broken.code).not.toBe(0)
    expect(broken.err).toMatch(/blob-digest-mismatch|digest/)
  })

  it('checks a layout from elsewhere (a copy) in full', async () => {
    const built = path.join(tmp, 'elsewhere-src')
    expect((await cli(['build', '--layers', path.join(tmp, 'app'), '--output', built])).code).toBe(
      0
    )
    const copy = path.join(tmp, 'elsewhere')
    await fs.cp(built, copy, { recursive: true })
    const run = await cli(['build', '--from', `oci:${copy}`, '--output', path.join(tmp, 'e2')])
    expect(run.code).toBe(0)
    expect(fromVerdicts(run.err)).toBe(0)
  })

  it('ignores a corrupt or foreign verdict file', async () => {
    const built = path.join(tmp, 'corrupt')
    expect((await cli(['build', '--layers', path.join(tmp, 'app'), '--output', built])).code).toBe(
      0
    )
    const dir = path.join(runnerTemp, 'lading-verdicts')
    const files = (await fs.readdir(dir)).filter(f => f.endsWith('.json'))
    expect(files.length).toBeGreaterThan(0)
    for (const [i, f] of files.entries())
      await fs.writeFile(
        path.join(dir, f),
        i % 2 ? '{not json' : JSON.stringify({ format: 'other/1', entries: [] })
      )
    const run = await cli(['build', '--from', `oci:${built}`, '--output', path.join(tmp, 'c2')])
    expect(run.code).toBe(0)
    expect(fromVerdicts(run.err)).toBe(0)
  })
})

describe('FileVerdicts', () => {
  const scan: BlobScan = { size: 3, digest: `sha256:${'a'.repeat(64)}`, findings: [] }

  it('keeps a verdict per file identity, bounded, and refuses one too large', async () => {
    const store = new FileVerdicts(path.join(tmp, 'store'))
    const file = path.join(tmp, 'store-blob')
    await fs.writeFile(file, 'abc')
    const id = await store.identify(file)
    expect(id).toBeDefined()
    await store.record('k', scan.digest as string, id!, scan)
    expect(await store.lookup('k', scan.digest as string, id!)).toEqual(scan)
    expect(await store.lookup('other key', scan.digest as string, id!)).toBeUndefined()
    expect(await store.lookup('k', scan.digest as string, { ...id!, ino: '1' })).toBeUndefined()

    const huge: BlobScan = {
      ...scan,
      findings: Array.from({ length: 2000 }, (_, i) => ({
        rule: 'layer-path-escapes',
        severity: 'error' as const,
        message: `finding ${i} `.repeat(10),
        location: 'layer',
        spec: 'https://example.invalid'
      }))
    }
    const other = `sha256:${'b'.repeat(64)}`
    await store.record('k', other, id!, huge)
    expect(await store.lookup('k', other, id!)).toBeUndefined()
  })
})
