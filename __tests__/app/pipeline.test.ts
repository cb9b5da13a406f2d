/**
 * The pipeline as a whole: a graph whose indexes list the same child many times is walked once per
 * document, and runs in one process share nothing.
 */
import { describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { Layout, writeLayoutIndex } from '../../src/transports/layout.js'
import { openLayout } from '../../src/transports/layout-image.js'
import { MediaType } from '../../src/oci/mediatypes.js'
import type { Descriptor } from '../../src/oci/types.js'
import type { ImageSource } from '../../src/oci/blobs.js'
import { makePlan } from '../../src/app/plan.js'
import { withDefaults } from '../../src/app/inputs.js'
import { resolvePlatforms } from '../../src/app/stages/resolve-platforms.js'
import { validateImage } from '../../src/validate/index.js'
import { cli } from '../helpers/cli.js'
import { trackedTempDirs, writeFixtureLayout } from '../helpers/transports-fixtures.js'

const tmp = trackedTempDirs('lading-pipeline-')

/** A source that counts what is read of it. */
class CountingSource implements ImageSource {
  readonly reads = new Map<string, number>()
  constructor(private readonly inner: ImageSource) {}
  get name() {
    return this.inner.name
  }
  get root() {
    return this.inner.root
  }
  private count(d: Descriptor) {
    this.reads.set(d.digest, (this.reads.get(d.digest) ?? 0) + 1)
  }
  open(d: Descriptor) {
    this.count(d)
    return this.inner.open(d)
  }
  read(d: Descriptor) {
    this.count(d)
    return this.inner.read(d)
  }
  has(d: Descriptor) {
    return this.inner.has(d)
  }
}

/**
 * A layout whose root index lists the index below it `fanOut` times, `depth` levels down to one
 * real image: a small document that costs fanOut^depth walks to a walker without a memo.
 */
async function fanOutLayout(
  fanOut: number,
  depth: number
): Promise<{ dir: string; count: number }> {
  const dir = await tmp()
  const [img] = await writeFixtureLayout(dir, [{ layers: [{ 'app/a.txt': 'a' }], gzip: true }])
  const layout = new Layout(dir)
  await layout.init()
  let below: Descriptor = { ...img.manifest, platform: { os: 'linux', architecture: 'amd64' } }
  for (let level = 0; level < depth; level++) {
    const idx = await layout.writeJSON(
      {
        schemaVersion: 2,
        mediaType: MediaType.ImageIndex,
        manifests: Array.from({ length: fanOut }, () => below)
      },
      MediaType.ImageIndex
    )
    below = { mediaType: idx.mediaType, digest: idx.digest, size: idx.size }
  }
  await writeLayoutIndex(dir, [below])
  await layout.finish()
  // the indexes, the manifest and its config
  return { dir, count: depth + 2 }
}

describe('a fan-out index (10 × depth 5)', () => {
  it('is resolved reading each document once', async () => {
    const { dir, count } = await fanOutLayout(10, 5)
    const source = new CountingSource(await openLayout(dir))
    const plan = makePlan(withDefaults({ from: `oci:${dir}`, output: path.join(dir, 'out') }))
    const { images } = await resolvePlatforms(plan, [{ source, line: 'from', verified: true }])
    expect(images.map(i => i.platform.architecture)).toEqual(['amd64'])
    expect(source.reads.size).toBe(count)
    expect([...source.reads.values()].every(n => n === 1)).toBe(true)
  })

  it('is validated reading each blob once', async () => {
    const { dir, count } = await fanOutLayout(10, 5)
    const opened = await openLayout(dir)
    const source = new CountingSource(opened)
    const findings = await validateImage(source, opened.root, { location: 'from' })
    expect(findings.filter(f => f.severity === 'error')).toEqual([])
    // Every blob was read (the documents and the one layer), so the check below is not vacuous.
    expect(source.reads.size).toBe(count + 1)
    expect([...source.reads.values()].every(n => n === 1)).toBe(true)
  })

  it('builds an image on it', async () => {
    const { dir } = await fanOutLayout(10, 5)
    const files = await tmp()
    await fs.writeFile(path.join(files, 'b.txt'), 'b')
    const out = path.join(await tmp(), 'layout')
    const r = await cli([
      'build',
      '--from',
      `oci:${dir}`,
      '--layers',
      `${files}:/b`,
      '--output',
      out
    ])
    expect(r.err).not.toMatch(/internal error/)
    expect(r.code).toBe(0)
    expect(r.out.platforms).toBe('linux/amd64')
  })
})

describe('two runs in one process', () => {
  async function inputs(): Promise<string[]> {
    const files = await tmp()
    await fs.mkdir(path.join(files, 'bin'))
    for (let i = 0; i < 50; i++) await fs.writeFile(path.join(files, 'bin', `f${i}`), `file ${i}\n`)
    const base = await tmp()
    await writeFixtureLayout(base, [{ layers: [{ 'etc/os-release': 'x' }], gzip: true }])
    return [files, base]
  }

  const build = (files: string, base: string, out: string, extra: string[]) =>
    cli([
      'build',
      '--from',
      `oci:${base}`,
      '--layers',
      `${files}:/app`,
      '--created',
      '2024-01-01T00:00:00Z',
      '--output',
      out,
      ...extra
    ])

  it('in parallel give the same results as one after the other', async () => {
    const [files, base] = await inputs()
    const outs = await Promise.all([0, 1, 2, 3].map(async () => path.join(await tmp(), 'layout')))
    const a = ['--env', 'A=1']
    const b = ['--compression', 'zstd', '--labels', 'x=y']
    const sequential = [await build(files, base, outs[0], a), await build(files, base, outs[1], b)]
    const parallel = await Promise.all([
      build(files, base, outs[2], a),
      build(files, base, outs[3], b)
    ])
    for (const r of [...sequential, ...parallel]) expect(r.code).toBe(0)
    expect(parallel.map(r => r.out.digest)).toEqual(sequential.map(r => r.out.digest))
    expect(parallel[0].out.digest).not.toBe(parallel[1].out.digest)
    const reports = await Promise.all(
      outs.map(async o => JSON.parse(await fs.readFile(`${o}-report.json`, 'utf8')))
    )
    expect(reports[2]).toEqual(reports[0])
    expect(reports[3]).toEqual(reports[1])
  })
})
