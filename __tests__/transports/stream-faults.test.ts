/**
 * Every pipeline of the transports fails cleanly when one of its stages fails: a LadingError
 * naming what and where, and no temporary file left. The disk cannot fail on demand, so the fs
 * streams are wrapped to fail after a number of bytes (the one fake of these tests).
 */
import { describe, it, expect, jest, beforeEach, afterEach } from '@jest/globals'
import * as realFs from 'node:fs'
import * as path from 'node:path'
import { Readable } from 'node:stream'
import { mockTmpdir } from '../helpers/own-tmpdir.js'
// Made with the real os.tmpdir(): the test's own directories are not what it counts.
import { trackedTempDirs, writeFixtureLayout, exec } from '../helpers/transports-fixtures.js'
import { itWithTools } from '../helpers/tools.js'

interface Fault {
  stream: 'read' | 'write'
  /** which file: a test on the path */
  file: RegExp
  /** bytes that pass before the failure */
  after: number
  code: string
}
let fault: Fault | undefined

function failure(f: Fault): NodeJS.ErrnoException {
  const syscall = f.stream
  return Object.assign(new Error(`${f.code}: injected failure, ${syscall}`), {
    code: f.code,
    syscall
  })
}

function faultyWrite(p: realFs.PathLike, opts?: Parameters<typeof realFs.createWriteStream>[1]) {
  const s = realFs.createWriteStream(p, opts)
  const f = fault
  if (f?.stream !== 'write' || !f.file.test(String(p))) return s
  let n = 0
  const write = s._write.bind(s)
  s._write = (chunk, enc, cb) => {
    n += chunk.length
    if (n > f.after) return cb(failure(f))
    write(chunk, enc, cb)
  }
  s._writev = (chunks, cb) => {
    n += chunks.reduce((t, c) => t + c.chunk.length, 0)
    if (n > f.after) return cb(failure(f))
    write(Buffer.concat(chunks.map(c => c.chunk as Buffer)), 'binary', cb)
  }
  return s
}

function faultyRead(p: realFs.PathLike, opts?: Parameters<typeof realFs.createReadStream>[1]) {
  const s = realFs.createReadStream(p, opts)
  const f = fault
  if (f?.stream !== 'read' || !f.file.test(String(p))) return s
  let n = 0
  const push = s.push.bind(s)
  s.push = (chunk: Buffer | null) => {
    if (chunk) {
      n += chunk.length
      if (n > f.after) {
        s.destroy(failure(f))
        return false
      }
    }
    return push(chunk)
  }
  return s
}

const ownTmpdir = mockTmpdir()
jest.unstable_mockModule('node:fs', () => ({
  ...realFs,
  default: { ...realFs, createWriteStream: faultyWrite, createReadStream: faultyRead },
  createWriteStream: faultyWrite,
  createReadStream: faultyRead
}))

const fs = await import('node:fs/promises')
const { writeOciArchive } = await import('../../src/transports/archive-writer.js')
const { openOciArchive } = await import('../../src/transports/oci-archive.js')
const { openDockerArchive } = await import('../../src/transports/docker-archive.js')
const { Layout } = await import('../../src/transports/layout.js')
const { scanBlob } = await import('../../src/validate/layer/scan.js')
const { LadingError } = await import('../../src/util/errors.js')
const { Temps } = await import('../../src/util/temps.js')
const { writeArchive } = await import('./archive-maker.js')

const tmp = trackedTempDirs()
let ownTmp: string

beforeEach(async () => {
  ownTmp = await tmp()
  ownTmpdir.set(ownTmp)
})
afterEach(() => {
  fault = undefined
  ownTmpdir.set(undefined)
})

/** A layout with a layer big enough to fail in the middle of. */
async function layout(): Promise<string> {
  const dir = path.join(await tmp(), 'layout')
  const big = Array.from({ length: 64 }, (_, i) => `${i}`.repeat(4096)).join('')
  await writeFixtureLayout(dir, [{ layers: [{ 'data/big': big }] }])
  return dir
}

describe('writeOciArchive', () => {
  it.each([
    [
      'the archive file cannot be written',
      { stream: 'write', file: /\.tmp$/, after: 4096, code: 'ENOSPC' }
    ],
    ['a blob cannot be read', { stream: 'read', file: /blobs\/sha256\//, after: 1000, code: 'EIO' }]
  ] as [string, Fault][])('fails cleanly when %s', async (_what, f) => {
    const lay = await layout()
    const out = path.join(await tmp(), 'image.tar')
    const temps = new Temps()
    fault = f
    const err = await writeOciArchive(lay, out, temps).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(LadingError)
    expect((err as Error).message).toMatch(
      new RegExp(`writing the OCI archive ${out}: .*${f.code}`)
    )
    expect(await fs.readdir(path.dirname(out))).toEqual([])
    temps.removeAll()
  })
})

describe('openOciArchive', () => {
  const archive = async (compression: 'none' | 'gzip' | 'zstd') => {
    const file = path.join(await tmp(), `image.tar.${compression}`)
    const lay = await layout()
    const entries = []
    for (const n of ['oci-layout', 'index.json'])
      entries.push({ name: n, content: await fs.readFile(path.join(lay, n)) })
    for (const b of await fs.readdir(path.join(lay, 'blobs', 'sha256')))
      entries.push({
        name: `blobs/sha256/${b}`,
        content: await fs.readFile(path.join(lay, 'blobs', 'sha256', b))
      })
    await writeArchive(file, entries, compression)
    return file
  }

  it.each(['none', 'gzip', 'zstd'] as const)(
    'fails cleanly when a %s archive cannot be read to its end',
    async compression => {
      const file = await archive(compression)
      const half = Math.floor((await fs.stat(file)).size / 2)
      fault = { stream: 'read', file: /image\.tar/, after: half, code: 'EIO' }
      const err = await openOciArchive(file).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(LadingError)
      expect((err as Error).message).toMatch(/EIO: injected failure/)
      expect(await fs.readdir(ownTmp)).toEqual([])
    }
  )

  it('fails cleanly when an entry cannot be written to the temp dir', async () => {
    const file = await archive('none')
    fault = { stream: 'write', file: /lading-src-.*blobs/, after: 1000, code: 'ENOSPC' }
    const err = await openOciArchive(file).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(LadingError)
    expect((err as Error).message).toMatch(
      new RegExp(`cannot extract blobs/sha256/\\w+ from ${file} into .*: ENOSPC`)
    )
    expect(await fs.readdir(ownTmp)).toEqual([])
  })
})

describe('openDockerArchive', () => {
  // A legacy `docker save` tarball (what skopeo writes), so that its layers are converted: read,
  // hashed and scanned while the archive is opened.
  itWithTools(
    ['skopeo'],
    'fails cleanly when an entry cannot be written, or a layer read',
    async () => {
      const lay = await layout()
      const file = path.join(await tmp(), 'docker.tar')
      await exec('skopeo', ['copy', `oci:${lay}`, `docker-archive:${file}:x/y:1`])

      fault = { stream: 'write', file: /lading-src-/, after: 1000, code: 'ENOSPC' }
      const err = await openDockerArchive(file, scanBlob).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(LadingError)
      expect((err as Error).message).toMatch(
        new RegExp(`cannot extract \\w+\\.tar from ${file} into .*: ENOSPC`)
      )
      expect(await fs.readdir(ownTmp)).toEqual([])

      // A layer that cannot be read while it is converted is the validator's to report: the source
      // opens, and the layer's scan says why it was not read to its end.
      fault = { stream: 'read', file: /lading-src-.*archive/, after: 1000, code: 'EIO' }
      const src = await openDockerArchive(file, scanBlob)
      const scans = [...(src.scanned?.values() ?? [])]
      await src.close()
      expect(scans).toHaveLength(1)
      expect(scans[0].readError).toMatch(/EIO: injected failure/)
      expect(scans[0].digest).toBeUndefined()
      expect(await fs.readdir(ownTmp)).toEqual([])
    }
  )
})

describe('Layout.writeStream', () => {
  it('fails cleanly when the blob cannot be written, and keeps no partial blob', async () => {
    const root = path.join(await tmp(), 'lay')
    const store = new Layout(root)
    await store.init()
    fault = { stream: 'write', file: /\.lading-tmp/, after: 1000, code: 'ENOSPC' }
    const src = Readable.from([Buffer.alloc(64 * 1024, 1)])
    await expect(store.writeStream(src)).rejects.toThrow(/writing blob into .*ENOSPC/)
    expect(await fs.readdir(path.join(root, '.lading-tmp'))).toEqual([])
    expect(await fs.readdir(path.join(root, 'blobs', 'sha256'))).toEqual([])
  })
})
