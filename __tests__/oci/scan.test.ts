/**
 * Each blob is checked once per run: a layer Lading builds carries the findings the validator
 * would make reading it back, and scans are shared between the validations of a run.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import { createReadStream } from 'node:fs'
import * as fs from 'node:fs/promises'
import * as os from 'node:os'
import * as path from 'node:path'
import type { Readable } from 'node:stream'
import { buildLayer } from '../../src/build/layer/index.js'
import type { BlobReader } from '../../src/oci/blobs.js'
import type { Descriptor } from '../../src/oci/types.js'
import { digestOfScanKey, scanKey } from '../../src/oci/scan.js'
import { Layout } from '../../src/transports/layout.js'
import { ScanCache, validateImage } from '../../src/validate/index.js'
import { layerChecks } from '../../src/validate/layer/checks.js'
import { scanBlob } from '../../src/validate/layer/scan.js'
import { cli } from '../helpers/cli.js'
import { makeTree } from '../helpers/layer-tree.js'

let work: string

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'lading-once-'))
})

afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true })
})

/** A tree whose layer breaks the whiteout rules several ways, besides the usual mix of entries. */
async function whiteoutTree(root: string): Promise<void> {
  await makeTree(root)
  const w = (p: string) => path.join(root, p)
  await fs.mkdir(w('wh/sub'), { recursive: true })
  await fs.writeFile(w('wh/.wh.gone'), '')
  await fs.writeFile(w('wh/.wh..wh..opq'), '')
  await fs.writeFile(w('wh/.wh..wh.aufs'), '')
  await fs.writeFile(w('wh/.wh.full'), 'not empty')
  await fs.mkdir(w('wh/.wh.adir'))
  await fs.writeFile(w('wh/sub/.wh.kept'), '')
  await fs.writeFile(w('wh/sub/kept'), 'the same layer adds what its whiteout deletes')
}

/**
 * Builds a layer into a fresh store, and scans the stored blob as the validator reads a layout's
 * layer: what the build carried must equal what this finds.
 */
async function buildAndReadBack(
  input: Parameters<typeof buildLayer>[0],
  compression: 'gzip' | 'zstd' | 'none',
  storeName: string
): Promise<{ built: Awaited<ReturnType<typeof buildLayer>>; readBack: object }> {
  const store = new Layout(path.join(work, storeName))
  await store.init()
  const built = await buildLayer(input, store, {
    compression,
    checks: layerChecks,
    mtime: new Date(0)
  })
  const d = built.descriptor
  const read = await scanBlob(createReadStream(store.path(d.digest)), {
    algorithm: 'sha256',
    compression,
    checkTar: true,
    location: `layer ${d.digest.slice(0, 19)}…`,
    digest: d.digest
  })
  return {
    built,
    readBack: { size: read.size, digest: read.digest, diffId: read.diffId, findings: read.findings }
  }
}

/** A fresh whiteout tree under the work directory. */
async function newWhiteoutTree(name: string): Promise<string> {
  const tree = path.join(work, name)
  await fs.mkdir(tree)
  await whiteoutTree(tree)
  return tree
}

describe('a built layer carries what the validator would find reading it', () => {
  // A directory holding names that would be whiteouts is refused before any is written, so a
  // layer built from a directory has no finding to carry; the tarballs below carry some.
  it.each(['gzip', 'zstd', 'none'] as const)(
    'the same findings, digest, size and diff_id as scanning the stored %s blob',
    async compression => {
      const tree = path.join(work, `tree-${compression}`)
      await fs.mkdir(tree)
      await makeTree(tree)
      const { built, readBack } = await buildAndReadBack(
        { source: tree, dest: '/srv', spec: `${tree}:/srv` },
        compression,
        `store-${compression}`
      )
      expect(built.scan).toBeDefined()
      expect(built.scan!.findings).toEqual([])
      expect(built.scan).toEqual(readBack)
      expect(built.scan!.diffId).toBe(built.diffId)
    }
  )
})

describe('a layer made from a tarball carries what the validator would find reading it', () => {
  let plain: string
  beforeAll(async () => {
    const tree = await newWhiteoutTree('tree-tarball')
    plain = path.join(work, 'tree.tar')
    execFileSync('tar', ['-cf', plain, '-C', tree, '.'])
  })

  it.each([
    ['a .tar.gz kept as it is', 'tar.gz', 'gzip'],
    ['a .tar recompressed to gzip', 'tar', 'gzip'],
    ['a .tar.gz recompressed to zstd', 'tar.gz', 'zstd'],
    ['a .tar with junk after its end-of-archive marker, kept', 'junk.tar', 'none']
  ] as const)('%s', async (_what, kind, compression) => {
    let file = plain
    if (kind === 'tar.gz') {
      file = path.join(work, `tree-${compression}.tar.gz`)
      await fs.writeFile(file, execFileSync('gzip', ['-n', '-c', plain], { maxBuffer: 1 << 28 }))
    } else if (kind === 'junk.tar') {
      file = path.join(work, 'tree-junk.tar')
      await fs.writeFile(
        file,
        Buffer.concat([await fs.readFile(plain), Buffer.from('junk after the end\n')])
      )
    }
    const { built, readBack } = await buildAndReadBack(
      { source: file, spec: path.basename(file) },
      compression,
      `store-tarball-${kind}-${compression}`
    )
    expect(built.scan!.findings.map(f => f.rule)).toEqual(
      expect.arrayContaining(['layer-whiteout', 'layer-whiteout-meta'])
    )
    if (kind === 'junk.tar')
      expect(built.scan!.findings.map(f => f.rule)).toContain('layer-tar-trailing')
    expect(built.scan).toEqual(readBack)
  })
})

/** A reader that counts what it opens. */
class Counting implements BlobReader {
  readonly opened: string[] = []
  constructor(private readonly inner: Layout) {}
  get name(): string {
    return this.inner.name
  }
  has(d: Descriptor): Promise<boolean> {
    return this.inner.has(d)
  }
  open(d: Descriptor): Promise<Readable> {
    this.opened.push(d.digest)
    return this.inner.open(d)
  }
  read(d: Descriptor): Promise<Buffer> {
    return this.inner.read(d)
  }
}

describe('scans shared within a run', () => {
  let layout: string
  beforeAll(async () => {
    const tree = path.join(work, 'tree-shared')
    await fs.mkdir(tree)
    await makeTree(tree)
    // Whiteouts come only from a tarball: a directory holding them is refused.
    const whiteouts = path.join(work, 'whiteouts.tar')
    execFileSync('tar', ['-cf', whiteouts, '-C', await newWhiteoutTree('tree-wh'), 'wh'])
    layout = path.join(work, 'layout-shared')
    const r = await cli([
      'build',
      '--layers',
      `${tree}:/a`,
      '--layers',
      whiteouts,
      '--output',
      layout,
      '--fail-on',
      'never'
    ])
    expect(r.code).toBe(0)
  })

  it('a second validation with the run’s scans reads no layer and finds the same', async () => {
    const index = JSON.parse(await fs.readFile(path.join(layout, 'index.json'), 'utf8'))
    const root = index.manifests[0] as Descriptor
    const manifest = JSON.parse(
      await fs.readFile(path.join(layout, 'blobs', 'sha256', root.digest.slice(7)), 'utf8')
    )
    const layers = (manifest.layers as Descriptor[]).map(l => l.digest)
    const scans = new ScanCache()
    const first = new Counting(new Layout(layout))
    const a = await validateImage(first, root, { scans })
    expect(layers.every(l => first.opened.includes(l))).toBe(true)
    expect(scans.reads).toBe(2)

    const second = new Counting(new Layout(layout))
    const b = await validateImage(second, root, { scans })
    expect(second.opened.filter(d => layers.includes(d))).toEqual([])
    expect(scans.reused).toBe(2)
    expect(b).toEqual(a)
    expect(a.some(f => f.rule === 'layer-whiteout')).toBe(true)

    // Without the run's scans, the layers are read again.
    const third = new Counting(new Layout(layout))
    expect(await validateImage(third, root)).toEqual(a)
    expect(layers.every(l => third.opened.includes(l))).toBe(true)
  })

  it('a build reads none of its new layers back, and a source layout’s layers once', async () => {
    const tree = path.join(work, 'tree-cli')
    await fs.mkdir(tree)
    await makeTree(tree)
    const out1 = path.join(work, 'once-1')
    const built = await cli(['build', '--layers', `${tree}:/a`, '--output', out1])
    expect(built.code).toBe(0)
    // The layer, and the config and manifest parsed again as documents (not counted).
    expect(built.err).toMatch(
      /validated the assembled layout: 0 blob\(s\) read, 1 already checked in this run/
    )
    const out2 = path.join(work, 'once-2')
    const copied = await cli(['build', '--from', `oci:${out1}`, '--output', out2])
    expect(copied.code).toBe(0)
    expect(copied.err).toMatch(
      /validated the assembled layout: 0 blob\(s\) read, 1 already checked in this run/
    )
    expect(copied.out.digest).toBe(built.out.digest)
  })
})

describe('scan keys', () => {
  it('name the blob they key, whatever its media type', () => {
    const digest = 'sha256:' + 'ab'.repeat(32)
    for (const mediaType of [
      'application/vnd.oci.image.layer.v1.tar+gzip',
      'application/vnd.oci.image.config.v1+json',
      'application/x-unknown'
    ]) {
      const key = scanKey({ mediaType, digest, size: 1 })
      expect(key).not.toBe(digest)
      expect(digestOfScanKey(key)).toBe(digest)
    }
  })
})
