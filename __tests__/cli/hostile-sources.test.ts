import { describe, it, expect, beforeEach, afterEach } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { mockTmpdir } from '../helpers/own-tmpdir.js'
import { trackedTempDirs } from '../helpers/transports-fixtures.js'
import { imageEntries, writeArchive, type ArchiveEntry } from '../transports/archive-maker.js'
import { hasCommandLine, injectArtifact } from '../helpers/command-injection.js'

const ownTmpdir = mockTmpdir()
const { cli } = await import('../helpers/cli.js')

const tmp = trackedTempDirs()
let ownTmp: string
let base: string

// Every temporary file of a run lands in a directory the test can count.
beforeEach(async () => {
  ownTmp = await tmp()
  base = await tmp()
  ownTmpdir.set(ownTmp)
})
afterEach(() => {
  ownTmpdir.set(undefined)
})

async function archiveOf(entries: ArchiveEntry[]): Promise<string> {
  const file = path.join(base, 'image.tar')
  await writeArchive(file, entries)
  return file
}

/** `lading build` from `archive`, and what it left behind besides the archive and the report. */
async function build(archive: string, ...args: string[]) {
  const output = path.join(base, 'out')
  const r = await cli(['build', '--from', `oci-archive:${archive}`, '--output', output, ...args])
  const left = (await fs.readdir(base)).filter(
    n => n !== path.basename(archive) && n !== 'out-report.json'
  )
  // The verdict cache is meant to outlive the run; anything else there is a leftover.
  const temps = (await fs.readdir(ownTmp)).filter(n => n !== 'lading-verdicts')
  return { ...r, left, temps }
}

const nested = (depth: number) => (diffId: string) =>
  Buffer.from(
    `{"architecture":"amd64","os":"linux","config":{"Env":${'['.repeat(depth)}${']'.repeat(depth)}},` +
      `"rootfs":{"type":"layers","diff_ids":["${diffId}"]}}`
  )

describe('lading build from hostile sources: a clear error, nothing left behind', () => {
  it.each([100_000, 3_000])(
    'a config nested %i levels deep, with env edits, even at fail-on never',
    async depth => {
      const archive = await archiveOf(await imageEntries({ config: nested(depth) }))
      for (const failOn of ['error', 'never']) {
        const r = await build(archive, '--env', 'A=1', '--fail-on', failOn)
        expect(r.code).toBe(1)
        expect(r.err).not.toMatch(/internal error/)
        expect(r.err).not.toMatch(/RangeError|call stack|\n\s+at /)
        expect(r.err).toMatch(
          new RegExp(
            `json-too-deep\\s+oci-archive:${archive} blobs/sha256/\\w+… \\(config\\): ` +
              `nests arrays and objects ${depth + 2} levels deep, more than the 64 \\(MAX_JSON_DEPTH\\)`
          )
        )
        expect(r.left).toEqual([])
        expect(r.temps).toEqual([])
      }
    }
  )

  it('a config whose Env is not a list of strings, with env edits, at fail-on never', async () => {
    const config = (diffId: string) =>
      Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          config: { Env: [1, ['PATH=/bin']] },
          rootfs: { type: 'layers', diff_ids: [diffId] }
        })
      )
    const archive = await archiveOf(await imageEntries({ config }))
    const r = await build(archive, '--env', 'A=1', '--fail-on', 'never')
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/the config sha256:\w+: its `config.Env` is not a list of strings/)
    expect([r.left, r.temps]).toEqual([[], []])
  })

  it('a manifest over 4 MiB', async () => {
    const archive = await archiveOf(await imageEntries({ manifestPadding: 5 * 1024 * 1024 }))
    const r = await build(archive, '--env', 'A=1', '--fail-on', 'never')
    expect(r.code).toBe(1)
    expect(r.err).toMatch(
      new RegExp(
        `the manifest sha256:\\w+ in ${archive} has \\d+ bytes, more than the 4194304 bytes \\(MAX_DOCUMENT_BYTES\\)`
      )
    )
    expect(r.err).not.toMatch(/internal error/)
    expect([r.left, r.temps]).toEqual([[], []])
  })

  it('a hard link named like a directory of the layout: not part of the image, reported', async () => {
    const entries = await imageEntries()
    const archive = await archiveOf([
      ...entries,
      { name: 'blobs/sha256', type: 'link', linkname: 'oci-layout' },
      { name: 'blobs', type: 'link', linkname: 'index.json' }
    ])
    const r = await build(archive, '--env', 'A=1')
    expect(r.err).not.toMatch(/internal error/)
    expect(r.code).toBe(0)
    expect(r.err).toMatch(
      /warning: .*2 entries of .* are not part of the image and were not kept: "blobs\/sha256", "blobs"/
    )
    expect(r.left).toEqual(['out'])
    expect(r.temps).toEqual([])
  })

  it('writes a hostile media type into the log as text, never as a workflow command', async () => {
    const lay = path.join(base, 'lay')
    const site = path.join(base, 'site')
    await fs.mkdir(site)
    await fs.writeFile(path.join(site, 'a'), 'a\n')
    expect((await cli(['build', '--layers', `${site}:/`, '--output', lay])).code).toBe(0)
    await injectArtifact(lay)
    const r = await cli([
      'build',
      '--from',
      `oci:${lay}`,
      '--output',
      path.join(base, 'out'),
      '--fail-on',
      'never'
    ])
    expect(r.code).toBe(0)
    // Where Lading writes it as it came (the blob it copies), its line cannot start a command;
    // where it quotes it (the findings), it is one line.
    expect(r.err).toContain(`copying application/x.a\n\\u003a:error title=pwned::injected`)
    expect(r.err).toContain('"application/x.a\\n::error title=pwned::injected"')
    expect(hasCommandLine(r.err)).toBe(false)
  })
})
