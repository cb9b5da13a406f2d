import { describe, it, expect } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { gzipSync } from 'node:zlib'
import { randomBytes } from 'node:crypto'
import { mockTmpdir } from '../helpers/own-tmpdir.js'
// Made with the real os.tmpdir(): the test's own directories are not what it counts.
import {
  exec,
  makeTar,
  readImage,
  trackedTempDirs,
  writeFixtureLayout
} from '../helpers/transports-fixtures.js'
import { itWithTools } from '../helpers/tools.js'

const ownTmpdir = mockTmpdir()
const { openLayout } = await import('../../src/transports/layout-image.js')
const { openOciArchive } = await import('../../src/transports/oci-archive.js')
const { LadingError } = await import('../../src/util/errors.js')

const tmp = trackedTempDirs()

describe('openOciArchive', () => {
  itWithTools(
    ['skopeo'],
    'reads what skopeo writes as oci-archive, plain and gzipped',
    async () => {
      const base = await tmp()
      const lay = path.join(base, 'lay')
      await writeFixtureLayout(lay, [
        {
          ref: 'one',
          layers: [{ 'a/x': 'x' }, { 'b/y': 'y' }],
          gzip: true,
          architecture: 'arm64',
          variant: 'v8'
        }
      ])
      const archive = path.join(base, 'x.tar')
      await exec('skopeo', ['copy', 'oci:' + lay + ':one', `oci-archive:${archive}:t1`])

      const want = await readImage(await openLayout(lay, 'one'))
      for (const file of [archive, path.join(base, 'x.tar.gz')]) {
        if (file.endsWith('.gz')) await fs.writeFile(file, gzipSync(await fs.readFile(archive)))
        const src = await openOciArchive(file, 't1')
        expect(src.name).toBe(`oci-archive:${file}:t1`)
        const got = await readImage(src)
        expect(got.config.rootfs.diff_ids).toEqual(want.config.rootfs.diff_ids)
        expect(got.config.config).toEqual(want.config.config)
        expect([got.config.os, got.config.architecture, got.config.variant]).toEqual([
          'linux',
          'arm64',
          'v8'
        ])
        expect(got.layerDigests).toEqual(want.layerDigests)
        // without a REF the only image is taken
        const only = await openOciArchive(file)
        expect(only.root.digest).toBe(src.root.digest)
        await only.close()
        await src.close()
        // close() removes the extraction directory
        await expect(fs.access(src.dir)).rejects.toThrow()
      }
      await expect(openOciArchive(archive, 'nope')).rejects.toThrow(
        new RegExp(`no image named "nope" in ${archive}; it holds "t1"`)
      )
    }
  )

  it('accepts entry names starting with ./ and lists refs when several', async () => {
    const base = await tmp()
    const lay = path.join(base, 'lay')
    await writeFixtureLayout(lay, [
      { ref: 'a', layers: [{ f: '1' }] },
      { ref: 'b', layers: [{ f: '2' }] }
    ])
    const archive = path.join(base, 'dot.tar')
    await fs.writeFile(archive, await tarOfLayout(lay, './'))
    const src = await openOciArchive(archive, 'b')
    expect((await readImage(src)).layerDigests).toHaveLength(1)
    await src.close()
    await expect(openOciArchive(archive, undefined, 'oci-archive:dot.tar')).rejects.toThrow(
      /holds 2 images: "a" .*"b" .*oci-archive:.*dot.tar:REF/
    )
  })

  it('keeps a blob whose content does not match its name for validation, and never serves it', async () => {
    const base = await tmp()
    const archive = path.join(base, 'bad.tar')
    const name = 'a'.repeat(64)
    const root = {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: 'sha256:' + name,
      size: 5
    }
    await fs.writeFile(
      archive,
      await makeTar([
        { name: 'oci-layout', content: '{"imageLayoutVersion":"1.0.0"}' },
        {
          name: 'index.json',
          content: JSON.stringify({ schemaVersion: 2, manifests: [root] })
        },
        { name: 'blobs/sha256/' + name, content: 'not a' }
      ])
    )
    const src = await openOciArchive(archive)
    try {
      await expect(src.read(root)).rejects.toThrow(/corrupt/)
    } finally {
      await src.close()
    }
  })

  it('gives clear errors for files that are not OCI archives, and leaves no temp files', async () => {
    const base = await tmp()
    // The extractions of the code under test land where they can be counted.
    const ownTmp = await tmp()
    ownTmpdir.set(ownTmp)
    try {
      // What the count stands on: the code under test does extract into ownTmp.
      const lay = path.join(base, 'lay')
      await writeFixtureLayout(lay, [{ layers: [{ f: '1' }] }])
      const good = path.join(base, 'good.tar')
      await fs.writeFile(good, await tarOfLayout(lay))
      const src = await openOciArchive(good)
      expect(path.dirname(src.dir)).toBe(ownTmp)
      await src.close()

      await clearErrorsForNonArchives(base)
    } finally {
      ownTmpdir.set(undefined)
    }
    expect(await fs.readdir(ownTmp)).toEqual([])
  })
})

/** A tar of the layout in `lay`, its entry names starting with `prefix`. */
async function tarOfLayout(lay: string, prefix = ''): Promise<Buffer> {
  const names = ['oci-layout', 'index.json']
  for (const f of await fs.readdir(path.join(lay, 'blobs', 'sha256')))
    names.push(`blobs/sha256/${f}`)
  const entries: Parameters<typeof makeTar>[0] = []
  if (prefix) entries.push({ name: prefix, type: 'directory' })
  for (const n of names)
    entries.push({ name: prefix + n, content: await fs.readFile(path.join(lay, n)) })
  return makeTar(entries)
}

/** Each kind of file that is not an OCI archive is refused with an error that says what it is. */
async function clearErrorsForNonArchives(base: string): Promise<void> {
  const rnd = path.join(base, 'random.bin')
  await fs.writeFile(rnd, randomBytes(4096))
  const e1 = await openOciArchive(rnd).catch(e => e)
  expect(e1).toBeInstanceOf(LadingError)
  expect(e1.message).toMatch(/is not a readable tar archive/)

  const other = path.join(base, 'other.tar')
  await fs.writeFile(other, await makeTar([{ name: 'README', content: 'hi' }]))
  await expect(openOciArchive(other)).rejects.toThrow(
    /is not an OCI layout archive nor a docker save tarball/
  )

  const docker = path.join(base, 'docker.tar')
  await fs.writeFile(docker, await makeTar([{ name: 'manifest.json', content: '[]' }]))
  await expect(openOciArchive(docker)).rejects.toThrow(/use docker-archive:/)

  const evil = path.join(base, 'evil.tar')
  await fs.writeFile(evil, await makeTar([{ name: '../evil', content: 'x' }]))
  await expect(openOciArchive(evil)).rejects.toThrow(/"\.\.\/evil" that points outside/)
  await expect(fs.access(path.join(base, '..', 'evil'))).rejects.toThrow()
  const abs = path.join(base, 'abs.tar')
  await fs.writeFile(abs, await makeTar([{ name: '/etc/evil', content: 'x' }]))
  await expect(openOciArchive(abs)).rejects.toThrow(/absolute path/)

  await expect(openOciArchive(path.join(base, 'missing.tar'))).rejects.toThrow(/does not exist/)
  await expect(openOciArchive(base)).rejects.toThrow(/is a directory; .*use oci:/)
  const truncated = path.join(base, 'trunc.tar')
  await fs.writeFile(truncated, (await fs.readFile(other)).subarray(0, 700))
  await expect(openOciArchive(truncated)).rejects.toThrow(/not a readable tar archive/)
}
