/**
 * `--chown` and `--chmod` on a `layers` line, and the modes a layer gets on Windows: parsed by
 * build/layer/spec.ts, applied by the tar writer, read back from the layer with tar-stream.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as os from 'node:os'
import * as path from 'node:path'
import * as zlib from 'node:zlib'
import * as tar from 'tar-stream'
import { Layout } from '../../../src/transports/layout.js'
import { buildLayer, parseLayerSpec, type LayerOptions } from '../../../src/build/layer/index.js'
import { layerChecks } from '../../../src/validate/layer/checks.js'
import { LadingError } from '../../../src/util/errors.js'

const opts: LayerOptions = {
  compression: 'gzip',
  checks: layerChecks,
  mtime: new Date('2024-05-06T07:08:09Z')
}

let work: string
let tree: string

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'lading-ownership-'))
  tree = path.join(work, 'dist')
  await fs.mkdir(path.join(tree, 'bin'), { recursive: true })
  await fs.writeFile(path.join(tree, 'bin', 'app'), '#!/bin/sh\n')
  await fs.chmod(path.join(tree, 'bin', 'app'), 0o700)
  await fs.writeFile(path.join(tree, 'config.json'), '{}')
  await fs.chmod(path.join(tree, 'config.json'), 0o600)
  await fs.symlink('bin/app', path.join(tree, 'run'))
})

afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true })
})

type Entry = Pick<tar.Header, 'name' | 'type' | 'uid' | 'gid' | 'mode' | 'uname' | 'gname'>

/** The layer's entries as tar-stream reads them. */
async function entriesOf(line: string, extra: Partial<LayerOptions> = {}): Promise<Entry[]> {
  const store = new Layout(await fs.mkdtemp(path.join(work, 'store-')))
  await store.init()
  const built = await buildLayer(parseLayerSpec(line), store, { ...opts, ...extra })
  const bytes = zlib.gunzipSync(await fs.readFile(store.path(built.descriptor.digest)))
  const out: Entry[] = []
  const ex = tar.extract()
  ex.on('entry', (h, stream, next) => {
    const { name, type, uid, gid, mode, uname, gname } = h
    out.push({ name, type, uid, gid, mode, uname, gname })
    stream.resume()
    stream.on('end', next)
  })
  const done = new Promise<void>((resolve, reject) => {
    ex.on('finish', resolve)
    ex.on('error', reject)
  })
  ex.end(bytes)
  await done
  return out
}

function byName(entries: Entry[]): Record<string, Entry> {
  return Object.fromEntries(entries.map(e => [e.name, e]))
}

describe('parseLayerSpec: --chown and --chmod', () => {
  it.each([
    ['--chown=65532:65532 --chmod=0755 dist:/app', { uid: 65532, gid: 65532 }, 0o755],
    ['--chown=1000 dist:/app', { uid: 1000, gid: 1000 }, undefined],
    ['--chmod=644 dist:/app', undefined, 0o644],
    ['--chmod=4755   --chown=0:10 dist:/app', { uid: 0, gid: 10 }, 0o4755]
  ])('%s', (line, chown, chmod) => {
    const l = parseLayerSpec(line)
    expect(l).toMatchObject({ source: 'dist', dest: '/app', spec: line })
    expect(l.chown).toEqual(chown)
    expect(l.chmod).toBe(chmod)
  })

  it.each([
    ['--chown=nonroot dist:/app', /--chown=nonroot is not UID\[:GID\] in numbers/],
    ['--chown=1000:staff dist:/app', /not UID\[:GID\] in numbers/],
    ['--chown= dist:/app', /not UID\[:GID\]/],
    ['--chmod=u+x dist:/app', /--chmod=u\+x is not an octal mode/],
    ['--chmod=0758 dist:/app', /not an octal mode/],
    ['--chmod=75 dist:/app', /not an octal mode/],
    ['--chmod=0755 --chmod=0644 dist:/app', /--chmod is given twice/],
    ['--from=build dist:/app', /--from is not a flag of a layer/],
    ['--chmod=0755', /must be followed by SOURCE/]
  ])('%s is refused', (line, message) => {
    expect(() => parseLayerSpec(line)).toThrow(LadingError)
    expect(() => parseLayerSpec(line)).toThrow(message)
  })
})

describe('buildLayer: owners and modes', () => {
  it('without flags, entries are root-owned and keep their modes', async () => {
    const e = byName(await entriesOf(`${tree}:/app`))
    expect(e['app/bin/app']).toMatchObject({ uid: 0, gid: 0, mode: 0o700 })
    expect(e['app/config.json']).toMatchObject({ uid: 0, gid: 0, mode: 0o600 })
  })

  it('--chown and --chmod apply to every entry from SOURCE, files and directories alike', async () => {
    const entries = await entriesOf(`--chown=65532:65533 --chmod=0755 ${tree}:/srv/app`)
    const e = byName(entries)
    for (const name of ['srv/app/', 'srv/app/bin/', 'srv/app/bin/app', 'srv/app/config.json'])
      expect(e[name]).toMatchObject({ uid: 65532, gid: 65533, mode: 0o755, uname: '', gname: '' })
    expect(e['srv/app/run']).toMatchObject({ type: 'symlink', uid: 65532, gid: 65533 })
    // DEST's parents stand for directories of the base: left root's, 0755.
    expect(e['srv/']).toMatchObject({ uid: 0, gid: 0, mode: 0o755 })
  })

  it('--chown alone keeps the modes; a single file takes both', async () => {
    const e = byName(await entriesOf(`--chown=1000 ${tree}:/app`))
    expect(e['app/bin/app']).toMatchObject({ uid: 1000, gid: 1000, mode: 0o700 })
    const f = byName(await entriesOf(`--chmod=0555 --chown=7:8 ${tree}/config.json:/etc/c.json`))
    expect(f['etc/c.json']).toMatchObject({ uid: 7, gid: 8, mode: 0o555 })
  })

  it('the same line makes the same layer twice (deterministic)', async () => {
    const line = `--chown=65532:65532 --chmod=0750 ${tree}:/app`
    expect(await entriesOf(line)).toEqual(await entriesOf(line))
  })

  it('on Windows, directories are 0755 and files 0644 unless --chmod says otherwise', async () => {
    const win = byName(await entriesOf(`${tree}:/app`, { platform: 'win32' }))
    expect(win['app/']).toMatchObject({ mode: 0o755 })
    expect(win['app/bin/']).toMatchObject({ mode: 0o755 })
    expect(win['app/bin/app']).toMatchObject({ mode: 0o644 })
    expect(win['app/config.json']).toMatchObject({ mode: 0o644 })
    const exec = byName(
      await entriesOf(`--chmod=0755 ${tree}/bin/app:/app/app`, { platform: 'win32' })
    )
    expect(exec['app/app']).toMatchObject({ mode: 0o755 })
  })

  it('a tarball takes no --chown or --chmod', async () => {
    const tarball = path.join(work, 'layer.tar')
    const pack = tar.pack()
    pack.entry({ name: 'a.txt' }, 'a')
    pack.finalize()
    const chunks: Buffer[] = []
    for await (const c of pack) chunks.push(c as Buffer)
    await fs.writeFile(tarball, Buffer.concat(chunks))
    await expect(entriesOf(`--chown=1:1 ${tarball}`)).rejects.toThrow(
      /a tarball is used as a layer as it is, so it takes no --chown or --chmod/
    )
  })
})
