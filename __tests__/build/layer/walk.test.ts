/**
 * buildLayer against sources that try to harm the image or the run: names that would be
 * whiteouts, files that change while they are read, a store that fails under the build. Each test
 * makes its hostile input itself; checks are a stub that sees every tar header.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import * as fs from 'node:fs/promises'
import * as fsSync from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import * as tar from 'tar-stream'
import { Layout } from '../../../src/transports/layout.js'
import { buildLayer, SlabPool, type LayerOptions } from '../../../src/build/layer/index.js'
import type { LayerInput } from '../../../src/build/layer/spec.js'
import { LadingError } from '../../../src/util/errors.js'
import type { StartProgress } from '../../../src/util/progress.js'
import { checksCalling, storesUnder } from '../../helpers/layer-build.js'

const MTIME = new Date('2024-05-06T07:08:09Z')
const MiB = 1024 * 1024
let work: string
let count = 0

function options(extra: Partial<LayerOptions> = {}): LayerOptions {
  return { compression: 'gzip', mtime: MTIME, checks: checksCalling(), ...extra }
}

const newStore = storesUnder(() => work)

async function newDir(): Promise<string> {
  const dir = path.join(work, `tree-${count++}`)
  await fs.mkdir(dir)
  return dir
}

/** What the build threw, checked to be a LadingError that left nothing in the store. */
async function failure(input: LayerInput, opts: LayerOptions, store?: Layout): Promise<string> {
  store ??= await newStore()
  const err = await buildLayer(input, store, opts).then(
    () => undefined,
    (e: unknown) => e
  )
  expect(err).toBeInstanceOf(LadingError)
  expect(await fs.readdir(path.join(store.root, '.lading-tmp'))).toEqual([])
  expect(await fs.readdir(path.join(store.root, 'blobs', 'sha256'))).toEqual([])
  return (err as Error).message
}

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'lading-hostile-'))
})

afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true })
})

describe('names that would be whiteouts', () => {
  it('refuses a file named .wh.* in a directory source, naming it', async () => {
    const dir = await newDir()
    await fs.mkdir(path.join(dir, 'etc'))
    await fs.writeFile(path.join(dir, 'etc', 'hosts'), '127.0.0.1 localhost\n')
    await fs.writeFile(path.join(dir, 'etc', '.wh.passwd'), '')
    const message = await failure({ source: dir, dest: '/', spec: 'tree:/' }, options())
    expect(message).toBe(
      `layers: "tree:/": "${dir}/etc/.wh.passwd": a name starting with .wh. would be a whiteout that deletes the base image's file at that path; rename it`
    )
  })

  it('refuses an opaque-whiteout marker and a directory named .wh.*', async () => {
    const dir = await newDir()
    await fs.mkdir(path.join(dir, 'var'))
    await fs.writeFile(path.join(dir, 'var', '.wh..wh..opq'), '')
    expect(await failure({ source: dir, spec: 'd' }, options())).toMatch(
      /^layers: "d": ".*\/var\/\.wh\.\.wh\.\.opq": a name starting with \.wh\./
    )
    const other = await newDir()
    await fs.mkdir(path.join(other, '.wh.usr'))
    expect(await failure({ source: other, spec: 'o' }, options())).toMatch(
      /^layers: "o": ".*\/\.wh\.usr": a name starting with \.wh\./
    )
  })

  it('shows the name under SOURCE as written', async () => {
    const dir = await newDir()
    await fs.writeFile(path.join(dir, '.wh.etc'), '')
    const cwd = process.cwd()
    process.chdir(path.dirname(dir))
    try {
      const rel = path.basename(dir)
      expect(await failure({ source: rel, spec: rel }, options())).toMatch(
        new RegExp(`^layers: "${rel}": "${rel}/\\.wh\\.etc": a name starting with \\.wh\\.`)
      )
    } finally {
      process.chdir(cwd)
    }
  })

  it('refuses a DEST or a single file whose name would be a whiteout', async () => {
    const dir = await newDir()
    await fs.writeFile(path.join(dir, 'ok.txt'), 'x')
    await fs.writeFile(path.join(dir, '.wh.shadow'), 'x')
    expect(
      await failure({ source: dir, dest: '/etc/.wh.ssh', spec: 'd:/etc/.wh.ssh' }, options())
    ).toMatch(/^layers: "d:\/etc\/\.wh\.ssh": "\/etc\/\.wh\.ssh" in the image: a name starting/)
    const file = path.join(dir, 'ok.txt')
    expect(await failure({ source: file, dest: '/etc/.wh.passwd', spec: 'f' }, options())).toMatch(
      /"\/etc\/\.wh\.passwd" in the image: a name starting with \.wh\./
    )
    expect(
      await failure({ source: path.join(dir, '.wh.shadow'), dest: '/etc/', spec: 's' }, options())
    ).toMatch(/"\/etc\/\.wh\.shadow" in the image/)
  })

  it('keeps the whiteouts of a tarball source: they are deliberate there', async () => {
    const pack = tar.pack()
    pack.entry({ name: 'etc/', type: 'directory', mode: 0o755 })
    pack.entry({ name: 'etc/.wh.passwd', mode: 0o644 }, Buffer.alloc(0))
    pack.finalize()
    const chunks: Buffer[] = []
    for await (const c of pack as AsyncIterable<Buffer>) chunks.push(c)
    const t = path.join(work, 'delete.tar')
    await fs.writeFile(t, Buffer.concat(chunks))
    const built = await buildLayer({ source: t, spec: 'delete.tar' }, await newStore(), options())
    expect(built.descriptor.digest).toMatch(/^sha256:/)
  })
})

describe('a file that changes while it is read', () => {
  /**
   * A tree holding a large file (streamed, not read whole; sparse, so cheap to make and compress)
   * and small ones around it. At 8 MiB, more of it is left to read when the first MiB has gone
   * through than the pipeline's buffers can hold, so a change then is always met by a read.
   */
  async function treeWithLargeFile(): Promise<{ dir: string; big: string }> {
    const dir = await newDir()
    await fs.writeFile(path.join(dir, 'a.txt'), 'first\n')
    const big = path.join(dir, 'big.bin')
    await fs.writeFile(big, 'start')
    await fs.truncate(big, 8 * MiB)
    await fs.writeFile(path.join(dir, 'z.txt'), 'last\n')
    return { dir, big }
  }

  // The header is written once the file is stat'ed and opened, just before its first read.
  it.each([
    ['shrinks to nothing', 0],
    ['shrinks', 1.5 * MiB],
    ['grows', 9 * MiB]
  ])('%s after its stat: a clear error, nothing left behind', async (_how, size) => {
    const { dir, big } = await treeWithLargeFile()
    const checks = checksCalling(h => {
      if (h.name === 'big.bin') fsSync.truncateSync(big, size)
    })
    const message = await failure({ source: dir, spec: 'tree' }, options({ checks }))
    expect(message).toBe(`layers: "tree": file "${big}" changed while it was being read; retry`)
  })

  // Progress is told of every chunk of the tar as it is written: the first MiB means reading
  // has begun.
  it.each([
    ['shrinks', 1.5 * MiB],
    ['grows', 9 * MiB]
  ])('%s while it is streamed: a clear error, nothing left behind', async (_how, size) => {
    const { dir, big } = await treeWithLargeFile()
    let seen = 0
    const progress: StartProgress = () => ({
      advance(bytes: number) {
        if (seen < MiB && (seen += bytes) >= MiB) fsSync.truncateSync(big, size)
      }
    })
    const message = await failure({ source: dir, spec: 'tree' }, options({ progress }))
    expect(message).toMatch(/^layers: "tree": file ".*big.bin" changed while it was being read/)
    expect(seen).toBeGreaterThanOrEqual(MiB)
  })

  // A gzip build's blocks are made by libdeflate's threads from recipes, the threads reading the
  // files over 64 KiB (this thread, for a layer of one block): a change after the header is met
  // there.
  it.each([
    ['grows', 'one block'],
    ['shrinks', 'one block'],
    ['disappears', 'one block'],
    ['grows', 'blocks made on a thread'],
    ['shrinks', 'blocks made on a thread'],
    ['disappears', 'blocks made on a thread'],
    // Opened without waiting for a writer, the FIFO fails its read at once: changed, not a hung
    // build. Should the open wait, a writer comes after 8 s (so the test fails, not hangs).
    ['becomes a FIFO', 'one block'],
    ['becomes a FIFO', 'blocks made on a thread']
  ])('a file that %s after its header, %s: a clear error', async (how, blocks) => {
    const dir = await newDir()
    if (blocks !== 'one block')
      await fs.writeFile(path.join(dir, 'a-large.bin'), Buffer.alloc(3 * MiB, 7))
    const small = path.join(dir, 'small.txt')
    await fs.writeFile(small, 'x'.repeat(100_000))
    let writer: ChildProcess | undefined
    const checks = checksCalling(h => {
      if (h.name !== 'small.txt') return
      if (how === 'grows') fsSync.appendFileSync(small, 'more')
      else if (how === 'shrinks') fsSync.truncateSync(small, 99_999)
      else fsSync.rmSync(small)
      if (how !== 'becomes a FIFO') return
      execFileSync('mkfifo', [small])
      writer = spawn('timeout', ['10', 'sh', '-c', 'sleep 8; : > "$1"', 'sh', small], {
        stdio: 'ignore'
      })
    })
    const started = Date.now()
    const message = await failure({ source: dir, spec: 'tree' }, options({ checks }))
    writer?.kill()
    // Before the FIFO's writer comes (8 s): it failed, not waited.
    expect(Date.now() - started).toBeLessThan(7000)
    expect(message).toBe(
      how === 'disappears'
        ? `layers: "tree": path "${small}" does not exist`
        : `layers: "tree": file "${small}" changed while it was being read; retry`
    )
  })

  // Other codecs stream the files through this thread, read whole when small.
  it.each(['grows', 'shrinks'])('a small file read whole that %s: a clear error', async how => {
    const dir = await newDir()
    const small = path.join(dir, 'small.txt')
    await fs.writeFile(small, 'x'.repeat(1000))
    // Taken by the pool for the read: the file changes between its stat and its read.
    const slabs = new (class extends SlabPool {
      override take(n: number): Buffer {
        if (how === 'grows') fsSync.appendFileSync(small, 'more')
        else if (how === 'shrinks') fsSync.truncateSync(small, 999)
        else if (fsSync.statSync(small).isFile()) {
          fsSync.rmSync(small)
          execFileSync('mkfifo', [small])
        }
        return super.take(n)
      }
    })()
    const message = await failure(
      { source: dir, spec: 'tree' },
      options({ slabs, compression: 'zstd' })
    )
    expect(message).toMatch(/file ".*small.txt" changed while it was being read/)
  })
})

describe('a store that fails under the build', () => {
  it('names the store when its temp file cannot be written, whatever the tar writer was doing', async () => {
    const dir = await newDir()
    for (let i = 0; i < 50; i++) await fs.writeFile(path.join(dir, `f${i}`), `file ${i}\n`)
    await fs.writeFile(path.join(dir, 'large.bin'), Buffer.alloc(4 * MiB, 1))
    const store = await newStore()
    const tempPath = store.tempPath.bind(store)
    store.tempPath = () => path.join(tempPath(), 'missing-dir', 'blob')
    const message = await failure({ source: dir, spec: 'tree' }, options(), store)
    expect(message).toMatch(/^layers: "tree": writing the layer into .*: ENOENT/)
  })

  it('names the store when the finished blob cannot be committed', async () => {
    const dir = await newDir()
    await fs.writeFile(path.join(dir, 'large.bin'), Buffer.alloc(2 * MiB, 1))
    const store = await newStore()
    store.commit = () => Promise.reject(new Error('disk full'))
    const message = await failure({ source: dir, spec: 'tree' }, options(), store)
    expect(message).toMatch(/^layers: "tree": writing the layer into .*: disk full$/)
  })
})
