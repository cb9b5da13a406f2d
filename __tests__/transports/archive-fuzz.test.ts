/**
 * Property tests of the archive sources over archives made from arbitrary entry lists: names that
 * climb out or are absolute, links of both kinds, duplicates, directories where files go, bodies
 * far bigger than any document, truncations, three compressions. Whatever the archive,
 * openOciArchive and openDockerArchive give a source or a LadingError, write nothing outside
 * their temp dir, and leave nothing once closed. A fixed seed in `npm test`; `npm run fuzz` runs
 * more (FUZZ_RUNS) on a new seed (FUZZ_SEED, printed, to replay a failure).
 */
import { describe, it, expect, beforeAll } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import fc from 'fast-check'
import { mockTmpdir } from '../helpers/own-tmpdir.js'
// Made with the real os.tmpdir(): the test's own directories are not what it counts.
import { trackedTempDirs } from '../helpers/transports-fixtures.js'
import type { Temps as TempsType } from '../../src/util/temps.js'
import type { ArchiveEntry } from './archive-maker.js'

const ownTmpdir = mockTmpdir()
const { openOciArchive } = await import('../../src/transports/oci-archive.js')
const { openDockerArchive } = await import('../../src/transports/docker-archive.js')
const { scanBlob } = await import('../../src/validate/layer/scan.js')
const { LadingError } = await import('../../src/util/errors.js')
const { Temps } = await import('../../src/util/temps.js')
const { imageEntries, writeArchive } = await import('./archive-maker.js')

const SEED = Number(process.env.FUZZ_SEED ?? 20261202)
const RUNS = Number(process.env.FUZZ_RUNS ?? 25)

const tmp = trackedTempDirs()

/** Names worth trying: the layout's own, docker's, and the ones an attacker would write. */
let names: string[] = []
/** Bodies worth trying: the image's own documents and blobs, and junk. */
let bodies: Array<() => Pick<ArchiveEntry, 'content' | 'zeros'>> = []

beforeAll(async () => {
  const image = await imageEntries()
  const blobNames = image.filter(e => e.name.startsWith('blobs/')).map(e => e.name)
  const [config, , layer] = blobNames
  names = [
    ...image.map(e => e.name),
    './index.json',
    'manifest.json',
    'repositories',
    'blobs',
    'blobs/sha256',
    `blobs/sha256/${'0'.repeat(64)}`,
    `${layer}/x`,
    'abc/layer.tar',
    'abc',
    '../escape',
    'a/../../escape',
    '/etc/absolute',
    'C:\\windows',
    'x'.repeat(300),
    'line\nbreak',
    ''
  ]
  const docker = JSON.stringify([{ Config: config, RepoTags: ['x/y:1'], Layers: [layer] }])
  bodies = [
    ...image.map(e => () => ({ content: e.content })),
    () => ({ content: docker }),
    () => ({ content: '[{"Config":"abc","Layers":["abc/layer.tar","abc"]}]' }),
    () => ({
      content:
        '{"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:' +
        '0'.repeat(64) +
        '","size":1e300}]}'
    }),
    () => ({ content: 'not json' }),
    () => ({ content: '' }),
    () => ({ zeros: 5 * 1024 * 1024 })
  ]
})

const entryArb = fc.record({
  name: fc.nat(),
  type: fc.constantFrom('file', 'file', 'file', 'directory', 'symlink', 'link', 'fifo'),
  link: fc.nat(),
  body: fc.nat()
})

const archiveArb = fc.record({
  /** the valid image first, then arbitrary entries; or arbitrary entries alone */
  withImage: fc.boolean(),
  entries: fc.array(entryArb, { maxLength: 12 }),
  compression: fc.constantFrom('none', 'gzip', 'zstd'),
  /** where to cut the archive, as a fraction of its size; none for most */
  cut: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { freq: 4 })
})

type ArchiveCase = typeof archiveArb extends fc.Arbitrary<infer T> ? T : never

async function makeArchive(c: ArchiveCase, file: string): Promise<void> {
  const entries: ArchiveEntry[] = c.withImage ? await imageEntries() : []
  for (const e of c.entries) {
    const name = names[e.name % names.length]
    if (e.type === 'file') entries.push({ name, ...bodies[e.body % bodies.length]() })
    else entries.push({ name, type: e.type, linkname: names[e.link % names.length] })
  }
  await writeArchive(file, entries, c.compression)
  if (c.cut !== null) {
    const bytes = await fs.readFile(file)
    await fs.writeFile(file, bytes.subarray(0, Math.floor(bytes.length * c.cut)))
  }
}

/** Every path under `dir`, relative to it. */
async function tree(dir: string): Promise<string[]> {
  const found = await fs.readdir(dir, { recursive: true })
  return found.map(String).sort()
}

describe.each([
  [
    'openOciArchive',
    (file: string, temps: TempsType) => openOciArchive(file, undefined, undefined, temps)
  ],
  [
    'openDockerArchive',
    (file: string, temps: TempsType) =>
      openDockerArchive(file, scanBlob, undefined, undefined, temps)
  ]
])('%s over arbitrary archives', (_name, open) => {
  it('gives a source or a LadingError, writes only in its temp dir, and cleans up', async () => {
    // The temp dir three levels down: an entry that climbs out of it would show in `root`.
    const root = await tmp()
    const tmpdir = path.join(root, 't1', 't2', 't3')
    const archive = path.join(root, 'archive', 'image.tar')
    await fs.mkdir(tmpdir, { recursive: true })
    await fs.mkdir(path.dirname(archive))
    await fs.writeFile(archive, '')
    const before = await tree(root)
    ownTmpdir.set(tmpdir)
    try {
      await fc.assert(
        fc.asyncProperty(archiveArb, async c => {
          await makeArchive(c, archive)
          const temps = new Temps()
          const src = await open(archive, temps).catch((err: unknown) => {
            if (!(err instanceof LadingError)) throw err
            return undefined
          })
          if (src) {
            // The source reads what it extracted, inside the temp dir.
            expect(src.dir.startsWith(tmpdir + path.sep)).toBe(true)
            await src.read(src.root).catch((err: unknown) => {
              if (!(err instanceof LadingError)) throw err
            })
            await src.close()
          }
          expect(await tree(root)).toEqual(before)
        }),
        { seed: SEED, numRuns: RUNS }
      )
    } finally {
      ownTmpdir.set(undefined)
    }
  })
})
