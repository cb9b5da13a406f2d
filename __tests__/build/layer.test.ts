import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs/promises'
import * as net from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import * as zlib from 'node:zlib'
import * as tar from 'tar-stream'
import {
  buildLayer,
  parseLayerSpec,
  type BuiltLayer,
  type LayerOptions
} from '../../src/build/layer/index.js'
import { MediaType } from '../../src/oci/mediatypes.js'
import { Layout } from '../../src/transports/layout.js'
import { LadingError } from '../../src/util/errors.js'
import { layerChecks } from '../../src/validate/layer/checks.js'
import { LONG_FILE, makeTree } from '../helpers/layer-tree.js'
import { blob, decompress, gzipOpts, MTIME, sha, storesUnder } from '../helpers/layer-build.js'

let work: string
let tree: string
const newStore = storesUnder(() => work)

async function headers(tarBytes: Buffer): Promise<Array<tar.Header & { body: Buffer }>> {
  const ex = tar.extract()
  const out: Array<tar.Header & { body: Buffer }> = []
  ex.on('entry', (h, stream, next) => {
    const chunks: Buffer[] = []
    stream.on('data', (c: unknown) => {
      chunks.push(c as Buffer)
    })
    stream.on('end', () => {
      out.push({ ...h, body: Buffer.concat(chunks) })
      next()
    })
  })
  const done = new Promise<void>((resolve, reject) => {
    ex.on('finish', () => resolve())
    ex.on('error', reject)
  })
  ex.end(tarBytes)
  await done
  return out
}

async function tempEntries(store: Layout): Promise<string[]> {
  return fs.readdir(path.join(store.root, '.lading-tmp'))
}

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'lading-layer-'))
  tree = path.join(work, 'tree')
  await fs.mkdir(tree)
  await makeTree(tree)
})

afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true })
})

describe('directory layers', () => {
  it('writes a sorted, normalised tar with DEST parents, modes, links and long/UTF-8 names', async () => {
    // A fifo and a socket: the first is kept as a tar type, the second left out.
    await fs.rm(path.join(work, 'special'), { recursive: true, force: true })
    await fs.mkdir(path.join(work, 'special'))
    execFileSync('mkfifo', [path.join(work, 'special', 'pipe')])
    const server = net.createServer()
    await new Promise<void>(r => server.listen(path.join(work, 'special', 'sock'), r))
    try {
      const store = await newStore()
      const l = await buildLayer(
        { source: tree, dest: '/opt/app', spec: 'tree:/opt/app' },
        store,
        gzipOpts
      )
      const sp = await buildLayer(
        { source: path.join(work, 'special'), spec: 'special' },
        store,
        gzipOpts
      )
      const spHeaders = await headers(decompress(sp, await blob(store, sp)))
      expect(spHeaders.map(h => [h.name, h.type])).toEqual([['pipe', 'fifo']])

      const bytes = decompress(l, await blob(store, l))
      const hs = await headers(bytes)
      const names = hs.map(h => h.name)
      expect(names.slice(0, 3)).toEqual(['opt/', 'opt/app/', 'opt/app/a/'])
      // Depth first, names in byte order within a directory (tar --sort=name): a directory's
      // contents follow it at once, so 'a/x' comes before 'a-b' although '/' > '-' as bytes.
      const parts = names.map(n =>
        n
          .replace(/\/$/, '')
          .split('/')
          .map(p => Buffer.from(p))
      )
      const before = (a: Buffer[], b: Buffer[]): boolean => {
        for (let k = 0; k < Math.min(a.length, b.length); k++) {
          const c = Buffer.compare(a[k], b[k])
          if (c) return c < 0
        }
        return a.length < b.length
      }
      for (let i = 1; i < parts.length; i++) expect(before(parts[i - 1], parts[i])).toBe(true)
      const aDir = names.indexOf('opt/app/a/')
      expect(names[aDir + 1].startsWith('opt/app/a/')).toBe(true)
      for (const h of hs) {
        expect([h.uid, h.gid, h.uname, h.gname]).toEqual([0, 0, '', ''])
        expect(h.mtime.getTime()).toBe(MTIME.getTime())
        expect(h.name.startsWith('/') || h.name.startsWith('./')).toBe(false)
        expect(h.name.endsWith('/')).toBe(h.type === 'directory')
      }
      const by = new Map(hs.map(h => [h.name, h]))
      expect(by.get('opt/')!.mode).toBe(0o755)
      expect(by.get('opt/app/bin/suid')!.mode).toBe(0o4755)
      expect(by.get('opt/app/bin/run.sh')!.mode).toBe(0o755)
      expect(by.get('opt/app/etc/secret')!.mode).toBe(0o600)
      expect(by.get('opt/app/sticky/')!.mode).toBe(0o1777)
      expect(by.get('opt/app/empty/')!.mode).toBe(0o700)
      expect(by.get('opt/app/empty-file')!.size).toBe(0)
      expect(by.get('opt/app/bin/rel-link')).toMatchObject({
        type: 'symlink',
        linkname: '../etc/conf.d/a.conf'
      })
      expect(by.get('opt/app/bin/abs-link')).toMatchObject({
        type: 'symlink',
        linkname: '/etc/passwd'
      })
      expect(by.get('opt/app/dangling')).toMatchObject({
        type: 'symlink',
        linkname: 'does/not/exist'
      })
      // etc/conf.d/a.conf sorts before hardlink.conf, so it holds the data and the other links to it.
      expect(by.get('opt/app/etc/conf.d/a.conf')).toMatchObject({ type: 'file', size: 4 })
      expect(by.get('opt/app/hardlink.conf')).toMatchObject({
        type: 'link',
        linkname: 'opt/app/etc/conf.d/a.conf'
      })
      expect(by.get(`opt/app/${LONG_FILE}`)!.body.toString()).toBe('long\n')
      expect(by.get('opt/app/café/naïve.txt')!.body.toString()).toBe('ünïcödé\n')
      expect(by.get('opt/app/日本語.txt')!.body.toString()).toBe('こんにちは\n')
      // Digests, not toEqual: jest compares buffers byte by byte, slowly.
      expect(sha(by.get('opt/app/big.bin')!.body)).toBe(
        sha(await fs.readFile(path.join(tree, 'big.bin')))
      )

      // An independent reader (GNU tar) sees the same names, PAX included.
      const listing = execFileSync('tar', ['--quoting-style=literal', '-tf', '-'], { input: bytes })
        .toString()
        .split('\n')
        .filter(Boolean)
      expect(listing).toEqual(names)

      expect(l.diffId).toBe(sha(bytes))
      expect(l.descriptor).toEqual({
        mediaType: MediaType.LayerGzip,
        digest: sha(await blob(store, l)),
        size: (await blob(store, l)).length
      })
      expect(l.createdBy).toBe('lading: COPY tree /opt/app')
      expect(await tempEntries(store)).toEqual([])
    } finally {
      server.close()
    }
  })

  it('puts the contents at the root when DEST is absent', async () => {
    const store = await newStore()
    const l = await buildLayer({ source: path.join(tree, 'etc'), spec: 'etc' }, store, gzipOpts)
    const hs = await headers(decompress(l, await blob(store, l)))
    expect(hs.map(h => h.name)).toEqual(['conf.d/', 'conf.d/a.conf', 'secret'])
    expect(l.createdBy).toBe('lading: COPY etc /')
  })

  it('is deterministic: same bytes twice, in another store, and differs with the mtime', async () => {
    const a = await buildLayer(
      { source: tree, dest: '/app', spec: 't' },
      await newStore(),
      gzipOpts
    )
    const b = await buildLayer(
      { source: tree, dest: '/app', spec: 't' },
      await newStore(),
      gzipOpts
    )
    expect(b).toEqual(a)
    const c = await buildLayer({ source: tree, dest: '/app', spec: 't' }, await newStore(), {
      ...gzipOpts,
      checks: layerChecks,
      mtime: new Date('2024-05-06T07:08:10Z')
    })
    expect(c.descriptor.digest).not.toBe(a.descriptor.digest)
    expect(c.diffId).not.toBe(a.diffId)
  })

  it('writes gzip headers with mtime 0, no name and a fixed OS byte', async () => {
    const store = await newStore()
    const l = await buildLayer({ source: path.join(tree, 'bin'), spec: 'bin' }, store, gzipOpts)
    const data = await blob(store, l)
    expect([...data.subarray(0, 4)]).toEqual([0x1f, 0x8b, 8, 0]) // FLG 0: no FNAME, no FEXTRA
    expect(data.readUInt32LE(4)).toBe(0)
    expect(data[9]).toBe(0xff)
  })

  it.each([
    ['gzip', MediaType.LayerGzip],
    ['zstd', MediaType.LayerZstd],
    ['none', MediaType.Layer]
  ] as const)(
    '%s: media type, and diffId is the sha256 of the decompressed blob',
    async (c, mt) => {
      const store = await newStore()
      const l = await buildLayer({ source: tree, dest: '/app', spec: 't' }, store, {
        compression: c,
        checks: layerChecks,
        mtime: MTIME
      })
      expect(l.descriptor.mediaType).toBe(mt)
      const data = await blob(store, l)
      expect(l.descriptor.digest).toBe(sha(data))
      expect(l.diffId).toBe(sha(decompress(l, data)))
      if (c === 'none') expect(l.diffId).toBe(l.descriptor.digest)
      // The same tree gives the same tar whatever the compression.
      const g = await buildLayer({ source: tree, dest: '/app', spec: 't' }, store, gzipOpts)
      expect(l.diffId).toBe(g.diffId)
    }
  )

  it('honours the level', async () => {
    const store = await newStore()
    const fast = await buildLayer({ source: tree, spec: 't' }, store, { ...gzipOpts, level: 1 })
    const best = await buildLayer({ source: tree, spec: 't' }, store, { ...gzipOpts, level: 9 })
    expect(fast.diffId).toBe(best.diffId)
    expect(fast.descriptor.digest).not.toBe(best.descriptor.digest)
    await expect(
      buildLayer({ source: tree, spec: 't' }, store, { ...gzipOpts, level: 12 })
    ).rejects.toThrow(/^compression-level: "12"/)
  })
})

describe('single-file layers', () => {
  it.each([
    [undefined, ['run.sh'], 'lading: COPY run.sh /run.sh'],
    [
      '/usr/local/bin/',
      ['usr/', 'usr/local/', 'usr/local/bin/', 'usr/local/bin/run.sh'],
      'lading: COPY run.sh /usr/local/bin/run.sh'
    ],
    ['/opt/tool', ['opt/', 'opt/tool'], 'lading: COPY run.sh /opt/tool']
  ])('DEST %j', async (dest, names, createdBy) => {
    const store = await newStore()
    const source = path.join(tree, 'bin', 'run.sh')
    const l = await buildLayer({ source, dest, spec: 'x' }, store, gzipOpts)
    const hs = await headers(decompress(l, await blob(store, l)))
    expect(hs.map(h => h.name)).toEqual(names)
    const file = hs[hs.length - 1]
    expect(file).toMatchObject({ type: 'file', mode: 0o755, uid: 0 })
    expect(file.body.toString()).toBe('#!/bin/sh\necho hi\n')
    for (const h of hs.slice(0, -1)) expect(h).toMatchObject({ type: 'directory', mode: 0o755 })
    expect(l.createdBy).toBe(createdBy)
  })
})

describe('errors', () => {
  async function expectFailure(
    input: { source: string; dest?: string; spec: string },
    message: RegExp,
    opts: LayerOptions = gzipOpts
  ): Promise<void> {
    const store = await newStore()
    const err = await buildLayer(input, store, opts).then(
      () => undefined,
      (e: unknown) => e
    )
    expect(err).toBeInstanceOf(LadingError)
    expect((err as Error).message).toMatch(message)
    expect(await tempEntries(store)).toEqual([])
    expect(await fs.readdir(path.join(store.root, 'blobs', 'sha256'))).toEqual([])
  }

  it('names a missing path', async () => {
    const cwd = process.cwd()
    process.chdir(work)
    try {
      await expectFailure(
        { source: 'dist', dest: '/app', spec: 'dist:/app' },
        /^layers: "dist:\/app": path "dist" does not exist$/
      )
    } finally {
      process.chdir(cwd)
    }
  })

  it('refuses a DEST for a tarball', async () => {
    const t = path.join(work, 'x.tar')
    await fs.writeFile(t, Buffer.alloc(1024))
    await expectFailure(
      { source: t, dest: '/app', spec: 'x.tar:/app' },
      /^layers: "x.tar:\/app": a tarball is used as a layer as it is, so it takes no DEST/
    )
  })

  it.each([
    [
      'junk.tar',
      () => Buffer.from('this is not a tar archive at all'.repeat(40)),
      /^layers: "junk.tar": ".*junk.tar" is not a readable tar: /
    ],
    [
      'junk.tar.gz',
      () => Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.alloc(600, 0x55)]),
      /is not a readable gzip tarball: /
    ],
    [
      'text-in-gzip.tar.gz',
      () => zlib.gzipSync(Buffer.from('hello '.repeat(300))),
      /is not a readable gzip tarball: /
    ],
    [
      'truncated.tar.zst',
      () => zlib.zstdCompressSync(Buffer.alloc(4096, 1)).subarray(0, 20),
      /is not a readable zstd tarball: /
    ],
    [
      'x.tar.xz',
      () => Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0, 1, 2, 3]),
      /is compressed with xz, which layers cannot use/
    ]
  ])('rejects the corrupt tarball %s', async (name, content, re) => {
    const t = path.join(work, name)
    await fs.writeFile(t, content())
    await expectFailure({ source: t, spec: name }, re)
    await expectFailure({ source: t, spec: name }, re, {
      compression: 'zstd',
      checks: layerChecks,
      mtime: MTIME
    })
  })

  it('rejects a truncated tar inside good gzip', async () => {
    const store = await newStore()
    const l = await buildLayer({ source: tree, spec: 't' }, store, {
      compression: 'none',
      checks: layerChecks,
      mtime: MTIME
    })
    const t = path.join(work, 'cut.tar.gz')
    await fs.writeFile(t, zlib.gzipSync((await blob(store, l)).subarray(0, 5000)))
    await expectFailure(
      { source: t, spec: 'cut.tar.gz' },
      /^layers: "cut.tar.gz": .* is not a readable gzip tarball: Unexpected end of data/
    )
    await expectFailure({ source: t, spec: 'cut.tar.gz' }, /is not a readable gzip tarball/, {
      compression: 'none',
      checks: layerChecks,
      mtime: MTIME
    })
  })

  it('refuses a timestamp a tar header cannot hold', async () => {
    await expectFailure({ source: tree, spec: 't' }, /outside the range a layer can hold/, {
      compression: 'gzip',
      checks: layerChecks,
      mtime: new Date('2040-01-01T00:00:00Z')
    })
  })

  /**
   * Builds a layer with the effective uid of nobody when running as root (to whom every file is
   * readable), `readable` and the store opened up for it; returns what the build threw.
   */
  async function buildAsNobody(
    store: Layout,
    readable: string[],
    input: Parameters<typeof buildLayer>[0]
  ): Promise<unknown> {
    const asRoot = process.getuid?.() === 0
    if (asRoot) {
      for (const d of readable) await fs.chmod(d, 0o755)
      for (const d of [
        store.root,
        path.join(store.root, '.lading-tmp'),
        path.join(store.root, 'blobs'),
        path.join(store.root, 'blobs', 'sha256')
      ])
        await fs.chmod(d, 0o777)
      process.seteuid!(65534)
    }
    try {
      await buildLayer(input, store, gzipOpts)
    } catch (e) {
      return e
    } finally {
      if (asRoot) process.seteuid!(0)
    }
    return undefined
  }

  // As root every file is readable, so the build runs with the effective uid of nobody.
  it('names an unreadable file and leaves nothing behind', async () => {
    const dir = path.join(work, 'locked')
    await fs.mkdir(path.join(dir, 'sub'), { recursive: true })
    await fs.writeFile(path.join(dir, 'sub', 'open.txt'), 'x')
    await fs.writeFile(path.join(dir, 'sub', 'secret.key'), 'x')
    await fs.chmod(path.join(dir, 'sub', 'secret.key'), 0o000)
    const store = await newStore()
    const err = await buildAsNobody(store, [work, dir, path.join(dir, 'sub')], {
      source: dir,
      dest: '/srv',
      spec: 'locked:/srv'
    })
    expect(err).toBeInstanceOf(LadingError)
    expect((err as Error).message).toMatch(
      new RegExp(
        `^layers: "locked:/srv": path "${dir}/sub/secret.key" cannot be read \\(permission denied\\)`
      )
    )
    expect(await tempEntries(store)).toEqual([])
  })

  // The tree is read one directory at a time while the tar is written: a directory that cannot
  // be listed is met after earlier entries went out, and still leaves nothing behind.
  it('names an unreadable directory met halfway through the tree and leaves nothing behind', async () => {
    const dir = path.join(work, 'locked-dir')
    await fs.mkdir(path.join(dir, 'a'), { recursive: true })
    await fs.mkdir(path.join(dir, 'b'), { recursive: true })
    await fs.writeFile(path.join(dir, 'a', 'first.bin'), Buffer.alloc(3 * 1024 * 1024, 1))
    await fs.writeFile(path.join(dir, 'b', 'hidden.txt'), 'x')
    await fs.chmod(path.join(dir, 'b'), 0o000)
    const store = await newStore()
    const err = await buildAsNobody(store, [work, dir, path.join(dir, 'a')], {
      source: dir,
      dest: '/srv',
      spec: 'locked-dir:/srv'
    })
    await fs.chmod(path.join(dir, 'b'), 0o755)
    expect(err).toBeInstanceOf(LadingError)
    expect((err as Error).message).toMatch(
      new RegExp(
        `^layers: "locked-dir:/srv": path "${dir}/b" cannot be read \\(permission denied\\)`
      )
    )
    expect(await tempEntries(store)).toEqual([])
    expect(await fs.readdir(path.join(store.root, 'blobs', 'sha256'))).toEqual([])
  })
})

describe('exclusions', () => {
  let proj: string

  beforeAll(async () => {
    proj = path.join(work, 'proj')
    await fs.mkdir(path.join(proj, 'src'), { recursive: true })
    await fs.writeFile(path.join(proj, 'src', 'main.js'), 'console.log(1)\n')
    await fs.writeFile(path.join(proj, '.out.ladingX'), 'not a staging dir\n')
    await fs.writeFile(path.join(proj, 'out-report.txt'), 'a file of the project\n')
  })

  /** Leftovers of earlier runs that write to proj/out: each differs per run. */
  async function leftovers(run: number): Promise<void> {
    await fs.mkdir(path.join(proj, 'out', 'blobs', 'sha256'), { recursive: true })
    await fs.writeFile(path.join(proj, 'out', 'blobs', 'sha256', `b${run}`), `blob ${run}`)
    await fs.mkdir(path.join(proj, `.out.lading-${run}`), { recursive: true })
    await fs.writeFile(path.join(proj, `.out.lading-${run}`, 'x'), `${run}`)
    await fs.writeFile(path.join(proj, 'out-report.json'), `{"run":${run}}`)
    await fs.writeFile(path.join(proj, 'image.tar'), `archive ${run}`)
  }

  const excludeFor = (root: string) => [
    path.join(root, 'out'),
    path.join(root, 'out-report.json'),
    path.join(root, 'image.tar'),
    path.join(root, '.out.lading-*')
  ]

  async function names(store: Layout, l: BuiltLayer): Promise<string[]> {
    return (await headers(decompress(l, await blob(store, l)))).map(h => h.name)
  }

  it('leaves out the outputs of the run and keeps the digest across runs', async () => {
    const cwd = process.cwd()
    process.chdir(proj)
    try {
      const digests: string[] = []
      for (const run of [1, 2]) {
        await leftovers(run)
        const store = await newStore()
        const l = await buildLayer({ source: '.', dest: '/app', spec: '.:/app' }, store, {
          ...gzipOpts,
          exclude: excludeFor(proj)
        })
        expect(await names(store, l)).toEqual([
          'app/',
          'app/.out.ladingX',
          'app/out-report.txt',
          'app/src/',
          'app/src/main.js'
        ])
        digests.push(l.descriptor.digest)
      }
      expect(digests[1]).toBe(digests[0])
      // Without the exclusions the leftovers are in: the check above is not vacuous.
      const store = await newStore()
      const all = await buildLayer({ source: '.', dest: '/app', spec: '.:/app' }, store, gzipOpts)
      expect(await names(store, all)).toEqual(
        expect.arrayContaining(['app/out/', 'app/.out.lading-1/', 'app/image.tar'])
      )
    } finally {
      process.chdir(cwd)
    }
  })

  it('matches through a symlink to the source', async () => {
    const link = path.join(work, 'proj-link')
    await fs.symlink(proj, link)
    await leftovers(3)
    const store = await newStore()
    const l = await buildLayer({ source: link, dest: '/app', spec: 'proj-link:/app' }, store, {
      ...gzipOpts,
      exclude: excludeFor(proj)
    })
    expect(await names(store, l)).not.toEqual(expect.arrayContaining(['app/out/']))
    expect(await names(store, l)).toContain('app/src/main.js')
  })

  it('refuses a SOURCE that is itself an output', async () => {
    await leftovers(4)
    for (const source of [path.join(proj, 'out'), path.join(proj, '.out.lading-4')]) {
      const store = await newStore()
      await expect(
        buildLayer({ source, dest: '/x', spec: 'o:/x' }, store, {
          ...gzipOpts,
          exclude: excludeFor(proj)
        })
      ).rejects.toThrow(/^layers: "o:\/x": ".*" is part of what this run writes/)
    }
  })
})

describe('names as written', () => {
  it('takes a whole line naming an existing path as SOURCE, colons and all', async () => {
    const dir = path.join(work, 'colons')
    await fs.mkdir(dir, { recursive: true })
    const file = path.join(dir, 'file:colon.txt')
    await fs.writeFile(file, 'c\n')
    expect(parseLayerSpec(file)).toEqual({ source: file, spec: file })
    // A line that names nothing is still split, and a relative DEST is still refused.
    expect(() => parseLayerSpec(path.join(dir, 'missing:colon.txt'))).toThrow(
      /DEST "colon.txt" must be an absolute path/
    )
    const store = await newStore()
    const l = await buildLayer(parseLayerSpec(file), store, gzipOpts)
    const hs = await headers(decompress(l, await blob(store, l)))
    expect(hs.map(h => h.name)).toEqual(['file:colon.txt'])
  })

  it('shows a missing absolute path as written', async () => {
    const store = await newStore()
    await expect(
      buildLayer({ source: '/nonexistent-lading', spec: '/nonexistent-lading' }, store, gzipOpts)
    ).rejects.toThrow(
      /^layers: "\/nonexistent-lading": path "\/nonexistent-lading" does not exist$/
    )
  })

  it("orders names by their UTF-8 bytes, where text's order differs (beyond U+FFFF)", async () => {
    const dir = path.join(work, 'byte-order')
    // By bytes: "a" 61, U+FF01 EF BC 81, U+1F600 F0 9F 98 80. As UTF-16 text U+1F600 (D83D DE00)
    // would come before U+FF01.
    const names = ['\u{1F600}.txt', '\uFF01.txt', 'a.txt', 'caf\u00e9 \uFFFD.txt']
    await fs.mkdir(path.join(dir, 'd'), { recursive: true })
    for (const n of names) await fs.writeFile(path.join(dir, 'd', n), n)
    const store = await newStore()
    const l = await buildLayer({ source: dir, dest: '/x', spec: 'order:/x' }, store, gzipOpts)
    const hs = await headers(decompress(l, await blob(store, l)))
    const inD = hs.map(h => h.name).filter(n => n.startsWith('x/d/') && n !== 'x/d/')
    const byBytes = [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    expect(inD).toEqual(byBytes.map(n => `x/d/${n}`))
    expect(inD[1]).toBe('x/d/caf\u00e9 \uFFFD.txt')
    expect(inD[3]).toBe('x/d/\u{1F600}.txt')
  })

  it('names a file name that is not UTF-8', async () => {
    const dir = path.join(work, 'latin1')
    await fs.mkdir(path.join(dir, 'sub'), { recursive: true })
    await fs.writeFile(Buffer.from(`${dir}/sub/caf\xe9.txt`, 'latin1'), 'x')
    const store = await newStore()
    await expect(
      buildLayer({ source: dir, dest: '/x', spec: 'latin1:/x' }, store, gzipOpts)
    ).rejects.toThrow(
      `layers: "latin1:/x": the name "caf\\xe9.txt" under "${dir}/sub" is not valid UTF-8`
    )
    expect(await tempEntries(store)).toEqual([])
  })

  it('names a symlink whose target is not UTF-8', async () => {
    const dir = path.join(work, 'latin1-link')
    await fs.mkdir(dir, { recursive: true })
    await fs.symlink(Buffer.from('caf\xe9', 'latin1'), path.join(dir, 'link'))
    const store = await newStore()
    await expect(
      buildLayer({ source: dir, dest: '/x', spec: 'l:/x' }, store, gzipOpts)
    ).rejects.toThrow(`the symlink "${dir}/link" points to "caf\\xe9", which is not valid UTF-8`)
  })
})
