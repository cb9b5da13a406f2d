import { describe, it, expect } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { prepareOutput, swapInto } from '../../src/app/output-dir.js'
import type { Plan } from '../../src/app/plan.js'
import { cli } from '../helpers/cli.js'
import { trackedTempDirs } from '../helpers/transports-fixtures.js'

const tmp = trackedTempDirs()
const HEX = 'a'.repeat(64)

/** A directory holding `files` (relative path → content; a trailing `/` makes a directory). */
async function dirWith(files: string[]): Promise<string> {
  const dir = path.join(await tmp(), 'out')
  await fs.mkdir(dir)
  for (const f of files) {
    const p = path.join(dir, f)
    if (f.endsWith('/')) await fs.mkdir(p, { recursive: true })
    else {
      await fs.mkdir(path.dirname(p), { recursive: true })
      await fs.writeFile(p, 'x')
    }
  }
  return dir
}

const prepare = (output: string) => prepareOutput({ output } as Plan)

describe('prepareOutput', () => {
  it('accepts what a layout holds, and an empty or missing directory', async () => {
    await expect(prepare(await dirWith([]))).resolves.toBeUndefined()
    await expect(prepare(path.join(await tmp(), 'new'))).resolves.toBeUndefined()
    const layout = await dirWith([
      'oci-layout',
      'index.json',
      `blobs/sha256/${HEX}`,
      `blobs/sha512/${'b'.repeat(128)}`,
      '.lading-tmp/0123abcd'
    ])
    await expect(prepare(layout)).resolves.toBeUndefined()
  })

  it.each([
    [['oci-layout', 'precious.txt'], 'precious.txt'],
    [['oci-layout', 'index.json', 'blobs/sha256/notes.txt'], 'blobs/sha256/notes.txt'],
    [['oci-layout', 'blobs/README'], 'blobs/README'],
    [['oci-layout', 'blobs/sha256/sub/'], 'blobs/sha256/sub'],
    [['oci-layout/'], 'oci-layout'],
    [['index.json', 'src/'], 'src'],
    [['.git/'], '.git']
  ])('refuses a directory holding %j, naming %s', async (files, first) => {
    const dir = await dirWith(files)
    await expect(prepare(dir)).rejects.toThrow(
      `output: "${dir}" holds "${first}", which is not part of an OCI layout; refusing to replace it`
    )
  })

  it('refuses a symbolic link where a blob should be', async () => {
    const dir = await dirWith(['oci-layout', 'blobs/sha256/'])
    await fs.symlink('/etc/passwd', path.join(dir, 'blobs', 'sha256', HEX))
    await expect(prepare(dir)).rejects.toThrow(`holds "blobs/sha256/${HEX}"`)
  })
})

describe('swapInto', () => {
  it('checks again: a file that appeared during the run stops the swap', async () => {
    const dir = await dirWith(['oci-layout'])
    const stage = await dirWith(['oci-layout', 'index.json'])
    await fs.writeFile(path.join(dir, 'precious.txt'), 'mine')
    await expect(swapInto(stage, dir)).rejects.toThrow(/holds "precious.txt"/)
    expect(await fs.readFile(path.join(dir, 'precious.txt'), 'utf8')).toBe('mine')
  })
})

describe('lading build --output', () => {
  async function layerDir(content: string): Promise<string> {
    const d = path.join(await tmp(), 'layer')
    await fs.mkdir(d)
    await fs.writeFile(path.join(d, 'hello'), content)
    return d
  }

  it('refuses before building when the output holds a file of its own', async () => {
    const base = await tmp()
    const out = path.join(base, 'out')
    await fs.mkdir(out)
    await fs.writeFile(path.join(out, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
    await fs.writeFile(path.join(out, 'precious.txt'), 'keep me')
    const r = await cli(['build', '--layers', await layerDir('1'), '--output', out])
    expect(r.code).toBe(1)
    expect(r.err).toContain(
      `output: "${out}" holds "precious.txt", which is not part of an OCI layout; refusing to replace it`
    )
    expect(await fs.readFile(path.join(out, 'precious.txt'), 'utf8')).toBe('keep me')
    // Nothing was built: no staging directory, no report.
    expect((await fs.readdir(base)).sort()).toEqual(['out'])
  })

  it('replaces a layout an earlier run wrote', async () => {
    const base = await tmp()
    const out = path.join(base, 'out')
    const first = await cli(['build', '--layers', await layerDir('1'), '--output', out])
    expect(first.code).toBe(0)
    const second = await cli(['build', '--layers', await layerDir('2'), '--output', out])
    expect(second.code).toBe(0)
    expect(second.out.digest).not.toBe(first.out.digest)
    const index = JSON.parse(await fs.readFile(path.join(out, 'index.json'), 'utf8'))
    expect(index.manifests[0].digest).toBe(second.out.digest)
  })
})
