/** Outputs in awkward places and a run stopped by a signal: a clear error, nothing half-done left. */
import { beforeAll, describe, expect, it } from '@jest/globals'
import { spawn } from 'node:child_process'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { bundledCli, cli } from '../helpers/cli.js'
import { makeSite } from '../helpers/layer-tree.js'
import { trackedTempDirs } from '../helpers/transports-fixtures.js'

const tmpDirs = trackedTempDirs('lading-edge-')
let tmp: string
let site: string

beforeAll(async () => {
  tmp = await tmpDirs()
  site = await makeSite(tmp)
})

describe('outputs in awkward places: a clear error, and nothing half-done', () => {
  it('output below a file', async () => {
    const file = path.join(tmp, 'afile')
    await fs.writeFile(file, 'x')
    const r = await cli(['build', '--layers', `${site}:/`, '--output', path.join(file, 'sub')])
    expect(r.code).toBe(1)
    expect(r.err).toMatch(
      /^lading: output: cannot create ".*afile\/sub": .*afile is not a directory/m
    )
    expect(r.err).not.toMatch(/internal error|\n\s+at /)
  })

  it('an archive below a file fails before the old output is touched', async () => {
    const out = path.join(tmp, 'keep')
    const first = await cli(['build', '--layers', `${site}:/`, '--output', out])
    expect(first.code).toBe(0)
    const before = await fs.readFile(path.join(out, 'index.json'), 'utf8')
    const r = await cli([
      'build',
      '--layers',
      `${site}:/other`,
      '--output',
      out,
      '--archive',
      path.join(tmp, 'afile', 'x.tar')
    ])
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/archive: cannot create/)
    expect(await fs.readFile(path.join(out, 'index.json'), 'utf8')).toBe(before)
  })

  it('an output inside the layer source is not packed into the layer: same digest every run', async () => {
    const dir = path.join(tmp, 'self')
    await fs.mkdir(dir)
    await fs.writeFile(path.join(dir, 'a.txt'), 'a\n')
    const digests = new Set<string>()
    for (let i = 0; i < 3; i++) {
      const r = await cli([
        'build',
        '--created',
        '0',
        '--layers',
        `${dir}:/app`,
        '--output',
        path.join(dir, 'oci-layout'),
        '--archive',
        path.join(dir, 'image.tar')
      ])
      expect(r.code).toBe(0)
      digests.add(r.out.digest)
    }
    expect(digests.size).toBe(1)
  })

  it('a staging layout left by a killed run is removed by the next run', async () => {
    const out = path.join(tmp, 'stale')
    // a pid that cannot be alive: a finished child's
    const child = spawn('true')
    await new Promise(r => child.on('exit', r))
    const stale = path.join(tmp, `.stale.lading-${child.pid}-deadbeef`)
    await fs.mkdir(path.join(stale, 'blobs'), { recursive: true })
    const r = await cli(['build', '--layers', `${site}:/`, '--output', out])
    expect(r.code).toBe(0)
    await expect(fs.access(stale)).rejects.toThrow()
  })
})

describe('a run stopped by SIGTERM', () => {
  it('removes the archive it was extracting', async () => {
    const { execFileSync, spawn: spawnChild } = await import('node:child_process')
    const privateTmp = path.join(tmp, 'sigterm-tmp')
    await fs.mkdir(privateTmp)
    // 300 MiB of zeros, gzipped to a small archive: extracting it takes long enough to be caught.
    const layout = path.join(tmp, 'sig-src')
    const big = path.join(tmp, 'sig-data')
    await fs.mkdir(big)
    await fs.writeFile(path.join(big, 'zeros.bin'), Buffer.alloc(300 * 1024 * 1024))
    expect(
      (await cli(['build', '--layers', `${big}:/`, '--compression', 'none', '--output', layout]))
        .code
    ).toBe(0)
    await fs.rm(big, { recursive: true })
    const tarball = path.join(tmp, 'sig.tar.gz')
    execFileSync('sh', ['-c', `tar -cf - -C "${layout}" . | gzip -1 > "${tarball}"`])
    await fs.rm(layout, { recursive: true })
    const run = spawnChild(
      process.execPath,
      [
        bundledCli,
        'build',
        '--from',
        `oci-archive:${tarball}`,
        '--output',
        path.join(tmp, 'sig-out')
      ],
      { env: { PATH: process.env.PATH ?? '', TMPDIR: privateTmp }, stdio: 'ignore' }
    )
    const exited = new Promise<number | null>(r => run.on('exit', code => r(code)))
    try {
      const deadline = Date.now() + 20000
      let seen = false
      while (!seen && Date.now() < deadline) {
        seen = (await fs.readdir(privateTmp)).some(n => n.startsWith('lading-src-'))
        if (!seen) await new Promise(r => setTimeout(r, 10))
      }
      expect(seen).toBe(true)
      run.kill('SIGTERM')
      expect(await exited).toBe(143)
      expect(await fs.readdir(privateTmp)).toEqual([])
    } finally {
      run.kill('SIGKILL')
    }
  })
})
