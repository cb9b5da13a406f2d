import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs/promises'
import * as os from 'node:os'
import * as path from 'node:path'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import * as zlib from 'node:zlib'
import { buildLayer } from '../../../src/build/layer/index.js'
import { MediaType } from '../../../src/oci/mediatypes.js'
import { Layout } from '../../../src/transports/layout.js'
import { makeTree } from '../../helpers/layer-tree.js'
import { LadingError } from '../../../src/util/errors.js'
import { layerChecks } from '../../../src/validate/layer/checks.js'
import { blob, decompress, gzipOpts, MTIME, sha, storesUnder } from '../../helpers/layer-build.js'

let work: string
let tree: string
const newStore = storesUnder(() => work)

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

describe('tarball layers', () => {
  let plainTar: Buffer
  let tarGz: string
  let tarPlain: string
  let tarZst: string

  beforeAll(async () => {
    const store = await newStore()
    const none = await buildLayer({ source: tree, dest: '/app', spec: 't' }, store, {
      compression: 'none',
      checks: layerChecks,
      mtime: MTIME
    })
    plainTar = await blob(store, none)
    tarPlain = path.join(work, 'in.tar')
    tarGz = path.join(work, 'in.tar.gz')
    tarZst = path.join(work, 'in.tgz') // zstd inside, whatever the name says
    await fs.writeFile(tarPlain, plainTar)
    // Compressed by gzip(1), so the copy-as-is path is checked on bytes Lading did not make.
    await fs.writeFile(tarGz, execFileSync('gzip', ['-9', '-n', '-c'], { input: plainTar }))
    await fs.writeFile(tarZst, zlib.zstdCompressSync(plainTar))
  })

  it('copies a tarball already in the chosen compression byte for byte', async () => {
    const store = await newStore()
    const l = await buildLayer({ source: tarGz, spec: 'in.tar.gz' }, store, gzipOpts)
    const file = await fs.readFile(tarGz)
    expect(l.descriptor).toEqual({
      mediaType: MediaType.LayerGzip,
      digest: sha(file),
      size: file.length
    })
    expect(l.diffId).toBe(sha(plainTar))
    expect(l.createdBy).toBe('lading: ADD in.tar.gz /')
    const p = await buildLayer({ source: tarPlain, spec: 'in.tar' }, store, {
      compression: 'none',
      checks: layerChecks,
      mtime: MTIME
    })
    expect(p.descriptor.digest).toBe(sha(plainTar))
    expect(p.diffId).toBe(sha(plainTar))
    expect(await tempEntries(store)).toEqual([])
  })

  it.each([
    ['in.tar.gz', 'zstd'],
    ['in.tgz', 'gzip'],
    ['in.tgz', 'none'],
    ['in.tar', 'gzip']
  ] as const)('recompresses %s to %s, keeping the tar', async (name, c) => {
    const store = await newStore()
    const l = await buildLayer({ source: path.join(work, name), spec: name }, store, {
      compression: c,
      checks: layerChecks,
      mtime: MTIME
    })
    const data = await blob(store, l)
    expect(l.descriptor.digest).toBe(sha(data))
    expect(sha(decompress(l, data))).toBe(sha(plainTar))
    expect(l.diffId).toBe(sha(plainTar))
  })
})

/** How many bytes a strict reader takes as gzip members: all of them, or it fails like Go's gzip. */
async function gzipConsumed(data: Buffer): Promise<number> {
  const gunzip = zlib.createGunzip()
  await pipeline(Readable.from([data]), gunzip, new Writable({ write: (_c, _e, cb) => cb() }))
  return gunzip.bytesWritten
}

describe('tarballs with bytes after the compressed stream', () => {
  let plainTar: Buffer

  beforeAll(async () => {
    const store = await newStore()
    const l = await buildLayer({ source: tree, dest: '/app', spec: 't' }, store, {
      compression: 'none',
      checks: layerChecks,
      mtime: MTIME
    })
    plainTar = await blob(store, l)
  })

  it('recompresses a .tgz padded with zeros instead of keeping it', async () => {
    const t = path.join(work, 'padded.tgz')
    const gz = execFileSync('gzip', ['-n', '-c'], { input: plainTar })
    await fs.writeFile(t, Buffer.concat([gz, Buffer.alloc(1024)]))
    // gzip(1) itself accepts the file, so the input is one users really hand over.
    execFileSync('gzip', ['-t', t], { stdio: 'pipe' })
    const store = await newStore()
    const l = await buildLayer({ source: t, spec: 'padded.tgz' }, store, gzipOpts)
    const data = await blob(store, l)
    expect(l.descriptor).toEqual({
      mediaType: MediaType.LayerGzip,
      digest: sha(data),
      size: data.length
    })
    expect(await gzipConsumed(data)).toBe(data.length)
    expect(zlib.gunzipSync(data).equals(plainTar)).toBe(true)
    expect(l.diffId).toBe(sha(plainTar))
    expect(await tempEntries(store)).toEqual([])
    // Only the one blob is stored: the rejected copy left nothing behind.
    expect(await fs.readdir(path.join(store.root, 'blobs', 'sha256'))).toEqual([
      l.descriptor.digest.slice('sha256:'.length)
    ])
  })

  it('recompresses a .tar.zst with trailing bytes', async () => {
    const t = path.join(work, 'padded.tar.zst')
    const zst = zlib.zstdCompressSync(plainTar)
    await fs.writeFile(t, Buffer.concat([zst, Buffer.from('trailing junk\n')]))
    const store = await newStore()
    const l = await buildLayer({ source: t, spec: 'padded.tar.zst' }, store, {
      compression: 'zstd',
      checks: layerChecks,
      mtime: MTIME
    })
    const data = await blob(store, l)
    expect(l.descriptor.digest).toBe(sha(data))
    expect(data.subarray(-14).toString()).not.toBe('trailing junk\n')
    expect(zlib.zstdDecompressSync(data).equals(plainTar)).toBe(true)
    expect(l.diffId).toBe(sha(plainTar))
  })

  it('refuses a zstd file of several frames rather than keep only the first', async () => {
    // Cut at a tar entry boundary, so the first frame alone is a tar that parses.
    const cut = 512 * 2
    const t = path.join(work, 'frames.tar.zst')
    await fs.writeFile(
      t,
      Buffer.concat([
        zlib.zstdCompressSync(plainTar.subarray(0, cut)),
        zlib.zstdCompressSync(plainTar.subarray(cut))
      ])
    )
    for (const compression of ['zstd', 'gzip'] as const) {
      const store = await newStore()
      const err = await buildLayer({ source: t, spec: 'frames.tar.zst' }, store, {
        compression,
        checks: layerChecks,
        mtime: MTIME
      }).then(
        () => undefined,
        (e: unknown) => e
      )
      expect(err).toBeInstanceOf(LadingError)
      expect((err as Error).message).toMatch(/holds more than one zstd frame/)
      expect(await tempEntries(store)).toEqual([])
    }
  })
})
