import { describe, it, expect, beforeAll } from '@jest/globals'
import { createHash } from 'node:crypto'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { mockTmpdir } from '../helpers/own-tmpdir.js'
// Made with the real os.tmpdir(): the test's own directories are not what it counts.
import { readImage, trackedTempDirs, writeFixtureLayout } from '../helpers/transports-fixtures.js'

const ownTmpdir = mockTmpdir()
const { extractArchive } = await import('../../src/transports/tar-extract.js')
const { ociArchiveRules } = await import('../../src/transports/archive-rules.js')
const { openOciArchive } = await import('../../src/transports/oci-archive.js')
const { LadingError } = await import('../../src/util/errors.js')
const { Temps } = await import('../../src/util/temps.js')
const { writeArchive } = await import('./archive-maker.js')
type ArchiveEntry = import('./archive-maker.js').ArchiveEntry

const tmp = trackedTempDirs()
const MB = 1024 * 1024
const BOMB = 250 * MB
/** Big enough to be over any first-pass budget of these small archives; quicker to read. */
const BIG = 16 * MB

/** The entries of a small one-image layout, index.json first or last. */
async function layoutEntries(indexLast = false): Promise<ArchiveEntry[]> {
  const dir = await tmp()
  await writeFixtureLayout(dir, [{ layers: [{ 'etc/hello': 'hi' }] }])
  const blobs: ArchiveEntry[] = []
  for (const f of (await fs.readdir(path.join(dir, 'blobs', 'sha256'))).sort())
    blobs.push({
      name: `blobs/sha256/${f}`,
      content: await fs.readFile(path.join(dir, 'blobs', 'sha256', f))
    })
  const top = await Promise.all(
    ['oci-layout', 'index.json'].map(async n => ({
      name: n,
      content: await fs.readFile(path.join(dir, n))
    }))
  )
  return indexLast ? [...blobs, ...top] : [...top, ...blobs]
}

/** Bytes of the files under `dir`. */
async function du(dir: string): Promise<number> {
  let total = 0
  for (const e of await fs.readdir(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile()) total += (await fs.stat(path.join(e.parentPath, e.name))).size
  return total
}

async function extractInto(archive: string) {
  const dest = await tmp()
  return {
    dest,
    x: await extractArchive(
      archive,
      dest,
      `oci-archive:${archive}`,
      ociArchiveRules(`oci-archive:${archive}`, archive)
    )
  }
}

describe('extractArchive: disk bounded by what the image declares', () => {
  let bombs: Record<string, string>
  beforeAll(async () => {
    const base = await tmp()
    const unrefName = `blobs/sha256/${'0'.repeat(64)}`
    bombs = {}
    for (const [kind, name, last] of [
      ['foreign, after the layout', 'junk.bin', false],
      ['foreign, before index.json', 'junk.bin', true],
      ['a blob nothing references', unrefName, true]
    ] as const) {
      const file = path.join(base, `${kind}.tar.zst`)
      const entries = await layoutEntries(last)
      await writeArchive(
        file,
        [...entries, { name, zeros: kind === 'foreign, before index.json' ? BOMB : BIG }],
        'zstd'
      )
      bombs[kind] = file
    }
  })

  it('makes bombs of a few KB', async () => {
    for (const file of Object.values(bombs))
      expect((await fs.stat(file)).size).toBeLessThan(16 * 1024)
  })

  it.each(['foreign, after the layout', 'foreign, before index.json', 'a blob nothing references'])(
    'never writes a big entry that is %s, and says so',
    async kind => {
      const { dest, x } = await extractInto(bombs[kind])
      expect(x.written).toBeLessThan(MB)
      expect(await du(dest)).toBeLessThan(MB)
      expect([...x.files.keys()].sort()).toEqual(
        expect.arrayContaining(['index.json', 'oci-layout'])
      )
      expect(x.files.size).toBe(2 + 3)
      expect(x.warnings).toHaveLength(1)
      expect(x.warnings[0]).toMatch(
        /1 entry of .* \((262144000|16777216) bytes\) is not part of the image/
      )
    }
  )

  it('opens the image of a bomb, warns, and its temp dir stays small', async () => {
    const own = await tmp()
    ownTmpdir.set(own)
    try {
      const src = await openOciArchive(bombs['foreign, before index.json'])
      expect(await du(own)).toBeLessThan(MB)
      expect(src.warnings).toHaveLength(1)
      expect((await readImage(src)).layerDigests).toHaveLength(1)
      await src.close()
      expect(await fs.readdir(own)).toEqual([])
    } finally {
      ownTmpdir.set(undefined)
    }
  })

  it('stops a referenced blob at its declared size when the archive holds more', async () => {
    const entries = await layoutEntries(true)
    const manifest = JSON.parse(
      (entries.find(e => e.name === 'index.json')!.content as Buffer).toString()
    ).manifests[0]
    const manifestEntry = entries.find(
      e => e.name === `blobs/${manifest.digest.replace(':', '/')}`
    )!
    const layer = JSON.parse((manifestEntry.content as Buffer).toString()).layers[0]
    const swapped = entries.map(e =>
      e.name === `blobs/${layer.digest.replace(':', '/')}` ? { name: e.name, zeros: BIG } : e
    )
    const file = path.join(await tmp(), 'big-layer.tar.zst')
    await writeArchive(file, swapped, 'zstd')
    const { x } = await extractInto(file)
    expect(x.written).toBeLessThan(MB)
    expect(x.files.get(`blobs/${layer.digest.replace(':', '/')}`)?.size).toBe(layer.size)
    expect(x.warnings).toEqual([])
  })

  it('takes blobs the first pass had no room for in a later pass, each whole', async () => {
    // 8 MiB of zeros: an uncompressed layer that zstd makes tiny, so the first pass skips it.
    const entries = await layoutEntries(true)
    const big = Buffer.alloc(8 * MB)
    const digest = createHash('sha256').update(big).digest('hex')
    const index = JSON.parse(
      (entries.find(e => e.name === 'index.json')!.content as Buffer).toString()
    )
    index.manifests.push({
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
      digest: `sha256:${digest}`,
      size: big.length
    })
    const withBig = [
      { name: `blobs/sha256/${digest}`, zeros: big.length },
      ...entries.map(e =>
        e.name === 'index.json' ? { name: e.name, content: JSON.stringify(index) } : e
      )
    ]
    const file = path.join(await tmp(), 'two-pass.tar.zst')
    await writeArchive(file, withBig, 'zstd')
    const { x } = await extractInto(file)
    const rec = x.files.get(`blobs/sha256/${digest}`)!
    expect([rec.size, rec.digest]).toEqual([big.length, `sha256:${digest}`])
    expect(x.warnings).toEqual([])
  })
})

describe('extractArchive: every stage fails cleanly', () => {
  it('refuses a truncated archive at every 512-byte boundary, and leaves nothing behind', async () => {
    const base = await tmp()
    const whole = path.join(base, 'whole.tar')
    await writeArchive(whole, await layoutEntries())
    const bytes = await fs.readFile(whole)
    const own = await tmp()
    ownTmpdir.set(own)
    try {
      for (let end = 0; end < bytes.length; end += 512) {
        const cut = path.join(base, `cut-${end}.tar`)
        await fs.writeFile(cut, bytes.subarray(0, end))
        const temps = new Temps()
        // Cut at an entry's end, a tar reads as a shorter archive: a source missing blobs, which
        // reading (and validation) then names.
        const src = await openOciArchive(cut, undefined, undefined, temps).catch((err: unknown) => {
          expect(err).toBeInstanceOf(LadingError)
          return undefined
        })
        if (src) {
          await readImage(src).catch((err: unknown) => expect(err).toBeInstanceOf(LadingError))
          await src.close()
        }
        expect(await fs.readdir(own)).toEqual([])
      }
    } finally {
      ownTmpdir.set(undefined)
    }
  })

  it('refuses a compressed archive cut short, or corrupt inside', async () => {
    const base = await tmp()
    for (const c of ['gzip', 'zstd'] as const) {
      const whole = path.join(base, `whole.${c}`)
      await writeArchive(whole, await layoutEntries(), c)
      const bytes = await fs.readFile(whole)
      const cut = path.join(base, `cut.${c}`)
      await fs.writeFile(cut, bytes.subarray(0, Math.floor(bytes.length / 2)))
      await expect(openOciArchive(cut)).rejects.toThrow(
        new RegExp(`is not a readable tar archive \\(${c}-compressed\\)`)
      )
      const corrupt = Buffer.from(bytes)
      for (let i = 20; i < corrupt.length - 20; i += 7) corrupt[i] ^= 0x5a
      await fs.writeFile(cut, corrupt)
      await expect(openOciArchive(cut)).rejects.toBeInstanceOf(LadingError)
    }
  })
})
