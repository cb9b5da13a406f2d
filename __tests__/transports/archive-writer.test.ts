import { describe, it, expect } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { writeOciArchive } from '../../src/transports/archive-writer.js'
import { openOciArchive } from '../../src/transports/oci-archive.js'
import { openLayout } from '../../src/transports/layout-image.js'
import { LadingError } from '../../src/util/errors.js'
import {
  exec,
  readImage,
  tarNames,
  trackedTempDirs,
  writeFixtureLayout
} from '../helpers/transports-fixtures.js'
import { itWithTools } from '../helpers/tools.js'

const tmp = trackedTempDirs()

async function fixture(): Promise<{ base: string; lay: string }> {
  const base = await tmp()
  const lay = path.join(base, 'lay')
  await writeFixtureLayout(lay, [
    { ref: 'v1', layers: [{ 'app/a': 'a' }, { 'app/b': 'b' }], gzip: true },
    { ref: 'v2', layers: [{ 'app/c': 'c' }], architecture: 'arm64' }
  ])
  // Lading's own scratch area must not end up in the archive
  await fs.mkdir(path.join(lay, '.lading-tmp'))
  await fs.writeFile(path.join(lay, '.lading-tmp', 'partial'), 'junk')
  return { base, lay }
}

describe('writeOciArchive', () => {
  it('writes a deterministic archive that reads back as the same images', async () => {
    const { base, lay } = await fixture()
    const out = path.join(base, 'out.tar')
    await writeOciArchive(lay, out)

    const names = await tarNames(out)
    const blobs = (await fs.readdir(path.join(lay, 'blobs', 'sha256'))).sort()
    expect(names).toEqual([
      'oci-layout',
      'index.json',
      'blobs/',
      'blobs/sha256/',
      ...blobs.map(b => `blobs/sha256/${b}`)
    ])
    expect((await fs.readdir(base)).sort()).toEqual(['lay', 'out.tar'])

    for (const ref of ['v1', 'v2']) {
      const want = await openLayout(lay, ref)
      const got = await openOciArchive(out, ref)
      expect(got.root).toEqual(want.root)
      expect(await readImage(got)).toEqual(await readImage(want))
      await got.close()
    }

    // the same layout, touched later, gives the same bytes
    const again = path.join(base, 'again.tar')
    const later = new Date(Date.now() + 60_000)
    for (const b of blobs) await fs.utimes(path.join(lay, 'blobs', 'sha256', b), later, later)
    await writeOciArchive(lay, again)
    expect((await fs.readFile(again)).equals(await fs.readFile(out))).toBe(true)
  })

  itWithTools(['skopeo'], 'writes an archive skopeo reads', async () => {
    const { base, lay } = await fixture()
    const out = path.join(base, 'out.tar')
    await writeOciArchive(lay, out)
    const want = await openLayout(lay, 'v2')
    const { stdout } = await exec('skopeo', ['inspect', '--raw', `oci-archive:${out}:v2`])
    expect(Buffer.from(stdout).equals(await want.read(want.root))).toBe(true)
    const info = JSON.parse((await exec('skopeo', ['inspect', `oci-archive:${out}:v1`])).stdout)
    const v1 = await readImage(await openLayout(lay, 'v1'))
    expect(info.Layers).toEqual(v1.layerDigests)
    expect(info.Architecture).toBe('amd64')
  })

  itWithTools(
    ['oci-image-tool', 'tar'],
    'writes an archive whose extraction oci-image-tool validates',
    async () => {
      const { base, lay } = await fixture()
      const out = path.join(base, 'out.tar')
      await writeOciArchive(lay, out)
      const x = path.join(base, 'x')
      await fs.mkdir(x)
      await exec('tar', ['-xf', out, '-C', x])
      for (const ref of ['v1', 'v2']) {
        const { stdout } = await exec('oci-image-tool', [
          'validate',
          '--type',
          'image',
          x,
          '--ref',
          `name=${ref}`
        ])
        expect(stdout).toMatch(/Validation succeeded/)
      }
      // the oracle does fail on a broken layout, so the checks above mean something
      const v1 = await readImage(await openLayout(lay, 'v1'))
      await fs.writeFile(path.join(x, 'blobs', 'sha256', v1.manifest.config.digest.slice(7)), '{}')
      await expect(
        exec('oci-image-tool', ['validate', '--type', 'image', x, '--ref', 'name=v1'])
      ).rejects.toThrow()
    }
  )

  it('fails clearly on an incomplete layout and leaves nothing behind', async () => {
    const { base, lay } = await fixture()
    await expect(writeOciArchive(lay, path.join(base, 'no', 'such', 'dir.tar'))).rejects.toThrow(
      /writing the OCI archive .*dir.tar: .*ENOENT/
    )
    await fs.rm(path.join(lay, 'index.json'))
    const out = path.join(base, 'out.tar')
    const e = await writeOciArchive(lay, out).catch(x => x)
    expect(e).toBeInstanceOf(LadingError)
    expect(e.message).toMatch(/not a complete OCI image layout/)
    expect((await fs.readdir(base)).sort()).toEqual(['lay'])
  })
})
