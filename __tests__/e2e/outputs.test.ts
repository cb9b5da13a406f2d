/** What a demanding user tries: odd paths, repeated options, broken sources, reproducibility. */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as os from 'node:os'
import * as path from 'node:path'
import { spawn } from 'node:child_process'
import { bundledCli, cli } from '../helpers/cli.js'
import { makePlan } from '../../src/app/plan.js'
import { withDefaults } from '../../src/app/inputs.js'

let tmp: string
let site: string
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'lading-edge-'))
  site = path.join(tmp, 'site')
  await fs.mkdir(site)
  await fs.writeFile(path.join(site, 'index.html'), '<h1>hi</h1>\n')
})
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true })
})

const plan = (inputs: Record<string, string>) =>
  makePlan(withDefaults({ layers: 'site:/', ...inputs }), {}, tmp)

describe('inputs a user gets wrong', () => {
  it.each([
    [{ platforms: 'linux/amd64,linux/amd64' }, /platforms: linux\/amd64 is given twice/],
    [
      { platforms: 'linux/arm64\nlinux/arm64/v8' },
      /platforms: linux\/arm64\/v8 is given twice \(as linux\/arm64 too\)/
    ],
    [{ env: 'A B=1' }, /env: "A B=1": the name "A B" has white space/],
    [{ created: '2024-02-30T00:00:00Z' }, /created: "2024-02-30T00:00:00Z" is neither RFC 3339/],
    [{ created: '2024-01-01T25:00:00Z' }, /created: .* is neither RFC 3339/],
    [
      { from: 'image.tar' },
      /from: "image.tar" looks like a local file; write oci-archive:image.tar or docker-archive:image.tar/
    ],
    [{ from: './site' }, /from: ".\/site" looks like a local directory; write oci:.\/site/],
    [
      { output: 'out', archive: 'out-report.json' },
      /archive: .* is where the validation report goes/
    ]
  ])('%j', (inputs, message) => {
    expect(() => plan(inputs)).toThrow(message)
  })

  it('a real date in RFC 3339 with an offset is taken', () => {
    expect(plan({ created: '2024-02-29T23:30:00+01:00' }).created.toISOString()).toBe(
      '2024-02-29T22:30:00.000Z'
    )
  })

  it('a single-value CLI option given twice is a usage error, a list option may repeat', async () => {
    const r = await cli([
      'build',
      '--layers',
      `${site}:/`,
      '--output',
      path.join(tmp, 'a'),
      '--output',
      path.join(tmp, 'b')
    ])
    expect(r.code).toBe(2)
    expect(r.err).toMatch(/option --output is given twice; it takes one value/)
    const format = await cli(['build', '--layers', `${site}:/`, '--format', 'json'])
    expect(format.code).toBe(2)
    expect(format.err).toMatch(/build does not take --format/)
    const ok = await cli([
      'build',
      '--layers',
      `${site}:/a`,
      '--layers',
      `${site}:/b`,
      '--output',
      path.join(tmp, 'two-layers')
    ])
    expect(ok.code).toBe(0)
  })

  it('lading validate on a file asks for its format', async () => {
    const file = path.join(tmp, 'image.tar')
    await fs.writeFile(file, 'not much')
    const r = await cli(['validate', file])
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/is a file; name its format: oci-archive:.* or docker-archive:/)
  })
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

describe('reproducibility across the ways to get the same image', () => {
  it('one multi-platform build, a copy of its layout, and a merge of per-platform builds give one digest', async () => {
    const common = ['--layers', `${site}:/srv`, '--created', '1700000000']
    const one = await cli([
      'build',
      ...common,
      '--platforms',
      'linux/amd64,linux/arm64',
      '--output',
      path.join(tmp, 'one')
    ])
    expect(one.code).toBe(0)
    const copy = await cli([
      'build',
      '--from',
      `oci:${path.join(tmp, 'one')}`,
      '--created',
      '1700000000',
      '--output',
      path.join(tmp, 'copy')
    ])
    expect(copy.code).toBe(0)
    expect(copy.out.digest).toBe(one.out.digest)
    for (const arch of ['amd64', 'arm64']) {
      const r = await cli([
        'build',
        ...common,
        '--platforms',
        `linux/${arch}`,
        '--output',
        path.join(tmp, `m-${arch}`)
      ])
      expect(r.code).toBe(0)
    }
    const merged = await cli([
      'build',
      '--from',
      `oci:${path.join(tmp, 'm-amd64')}`,
      '--from',
      `oci:${path.join(tmp, 'm-arm64')}`,
      '--created',
      '1700000000',
      '--output',
      path.join(tmp, 'merged')
    ])
    expect(merged.code).toBe(0)
    expect(merged.out.digest).toBe(one.out.digest)
  })
})

describe('sources that cannot be read are findings in the report', () => {
  it('a layout whose index.json is not JSON: valid false, the finding in the report', async () => {
    const bad = path.join(tmp, 'badidx')
    const r0 = await cli(['build', '--layers', `${site}:/`, '--output', bad])
    expect(r0.code).toBe(0)
    await fs.writeFile(path.join(bad, 'index.json'), '{ not json')
    const r = await cli(['build', '--from', `oci:${bad}`, '--output', path.join(tmp, 'from-bad')])
    expect(r.code).toBe(1)
    expect(r.out.valid).toBe('false')
    const report = JSON.parse(await fs.readFile(r.out.report, 'utf8'))
    expect(report.valid).toBe(false)
    expect(report.findings).toContainEqual(
      expect.objectContaining({
        rule: 'json-invalid',
        location: expect.stringContaining('index.json')
      })
    )
  })

  it('an oci-archive that cannot be opened: a source-unreadable finding', async () => {
    const junk = path.join(tmp, 'junk.tar')
    await fs.writeFile(junk, Buffer.alloc(4096, 7))
    const r = await cli([
      'build',
      '--from',
      `oci-archive:${junk}`,
      '--output',
      path.join(tmp, 'from-junk')
    ])
    expect(r.code).toBe(1)
    const report = JSON.parse(await fs.readFile(r.out.report, 'utf8'))
    expect(report).toMatchObject({ valid: false, errors: 1 })
    expect(report.findings[0]).toMatchObject({
      rule: 'source-unreadable',
      location: `oci-archive:${junk}`
    })
    expect(r.err).toMatch(/source-unreadable/)
  })

  it('fail-on never: the step passes, valid says false', async () => {
    const bad = path.join(tmp, 'bad-ann')
    const r = await cli([
      'build',
      '--layers',
      `${site}:/`,
      '--annotations',
      'org.opencontainers.image.created=soon',
      '--fail-on',
      'never',
      '--output',
      bad
    ])
    expect(r.code).toBe(0)
    expect(r.out.valid).toBe('false')
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
