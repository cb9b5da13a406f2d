/**
 * End to end through the CLI front end and the engine: a tree becomes a layout that independent
 * tools (oci-image-tool, umoci, skopeo) accept and read back exactly.
 */
import { beforeAll, describe, expect, it } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { gunzipSync } from 'node:zlib'
import { cli } from '../helpers/cli.js'
import { describeTree, makeTree } from '../helpers/layer-tree.js'
import { itWithTools } from '../helpers/tools.js'
import { trackedTempDirs } from '../helpers/transports-fixtures.js'
/**
 * Each blob is checked once per run: a layer Lading builds carries the findings the validator
 * would make reading it back, scans are shared between the validations of a run, and the work
 * that runs side by side (layers, validation reads) keeps its results in order.
 */
import type { Descriptor } from '../../src/oci/types.js'

const tmpDirs = trackedTempDirs('lading-e2e-')
let tmp: string
let tree: string

beforeAll(async () => {
  tmp = await tmpDirs()
  tree = path.join(tmp, 'tree')
  await fs.mkdir(tree)
  await makeTree(tree)
})

const baseArgs = (out: string) => [
  'build',
  '--layers',
  `${'TREE'}:/app`,
  '--entrypoint',
  '["/app/bin/run.sh"]',
  '--cmd',
  '--serve --port 8080',
  '--env',
  'A=1',
  '--env',
  'B=two words',
  '--workdir',
  '/app',
  '--user',
  '1000:1000',
  '--labels',
  'org.example.team=core',
  '--exposed-ports',
  '8080,53/udp',
  '--annotations',
  'org.example.note=hi',
  '--created',
  '2024-05-06T07:08:09Z',
  '--output',
  out
]

describe('lading build (scratch + a directory layer)', () => {
  let layout: string
  let result: Record<string, string>
  beforeAll(async () => {
    layout = path.join(tmp, 'layout')
    const r = await cli(baseArgs(layout).map(a => a.replace('TREE', tree)))
    expect(r.err).not.toMatch(/internal error/)
    expect(r.code).toBe(0)
    result = r.out
  })

  it('prints the outputs and writes a layout whose index names the ref', async () => {
    expect(result.digest).toMatch(/^sha256:[a-f0-9]{64}$/)
    expect(result['media-type']).toBe('application/vnd.oci.image.manifest.v1+json')
    expect(result.platforms).toBe('linux/amd64')
    expect(result.valid).toBe('true')
    const index = JSON.parse(await fs.readFile(path.join(layout, 'index.json'), 'utf8'))
    expect(index.manifests).toHaveLength(1)
    expect(index.manifests[0].digest).toBe(result.digest)
    expect(index.manifests[0].annotations['org.opencontainers.image.ref.name']).toBe('latest')
    const report = JSON.parse(await fs.readFile(result.report, 'utf8'))
    expect(report).toMatchObject({ valid: true, errors: 0 })
    // nothing but the layout is left beside it
    const siblings = (await fs.readdir(tmp)).filter(n => n.includes('lading-'))
    expect(siblings).toEqual([])
  })

  itWithTools(['oci-image-tool'], 'passes oci-image-tool validate --type image', () => {
    const out = execFileSync(
      'oci-image-tool',
      ['validate', '--type', 'image', '--ref', 'name=latest', layout],
      { encoding: 'utf8' }
    )
    expect(out).toMatch(/Validation succeeded/)
  })

  itWithTools(['umoci'], 'umoci unpack gives back the source tree exactly', async () => {
    const bundle = path.join(tmp, 'bundle')
    execFileSync('umoci', ['unpack', '--rootless', '--image', `${layout}:latest`, bundle], {
      stdio: 'pipe'
    })
    const want = await describeTree(tree)
    const got = await describeTree(path.join(bundle, 'rootfs', 'app'))
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort())
    for (const [p, w] of want) {
      const g = got.get(p)!
      expect({ p, type: g.type, mode: g.mode, sha: g.sha, target: g.target }).toEqual({
        p,
        type: w.type,
        mode: w.mode,
        sha: w.sha,
        target: w.target
      })
    }
    expect(got.get('hardlink.conf')!.ino).toBe(got.get('etc/conf.d/a.conf')!.ino)
  })

  itWithTools(['skopeo'], 'skopeo inspect shows every config field the inputs set', () => {
    const cfg = JSON.parse(
      execFileSync('skopeo', ['inspect', '--config', `oci:${layout}:latest`], { encoding: 'utf8' })
    )
    expect(cfg.config).toEqual({
      Entrypoint: ['/app/bin/run.sh'],
      Cmd: ['--serve', '--port', '8080'],
      Env: ['A=1', 'B=two words'],
      WorkingDir: '/app',
      User: '1000:1000',
      Labels: { 'org.example.team': 'core' },
      ExposedPorts: { '8080/tcp': {}, '53/udp': {} }
    })
    expect(cfg.created).toBe('2024-05-06T07:08:09Z')
    expect(cfg.architecture).toBe('amd64')
    const raw = JSON.parse(
      execFileSync('skopeo', ['inspect', '--raw', `oci:${layout}:latest`], { encoding: 'utf8' })
    )
    expect(raw.annotations).toMatchObject({
      'org.example.note': 'hi',
      'org.opencontainers.image.created': '2024-05-06T07:08:09Z'
    })
  })

  it('diff_ids are the sha256 of the uncompressed layers', async () => {
    const manifest = JSON.parse(
      await fs.readFile(path.join(layout, 'blobs/sha256', result.digest.slice(7)), 'utf8')
    )
    const config = JSON.parse(
      await fs.readFile(path.join(layout, 'blobs/sha256', manifest.config.digest.slice(7)), 'utf8')
    )
    expect(manifest.layers).toHaveLength(1)
    const blob = await fs.readFile(
      path.join(layout, 'blobs/sha256', manifest.layers[0].digest.slice(7))
    )
    expect(config.rootfs.diff_ids).toEqual([
      'sha256:' + createHash('sha256').update(gunzipSync(blob)).digest('hex')
    ])
  })

  it('the same inputs built twice give the same digest; created decides it', async () => {
    const again = await cli(baseArgs(path.join(tmp, 'again')).map(a => a.replace('TREE', tree)))
    expect(again.out.digest).toBe(result.digest)
    const later = await cli(
      baseArgs(path.join(tmp, 'later')).map(a =>
        a.replace('TREE', tree).replace('2024-05-06T07:08:09Z', '1714979290')
      )
    )
    expect(later.out.digest).not.toBe(result.digest)
  })

  it('SOURCE_DATE_EPOCH sets the times when created is not given', async () => {
    const args = baseArgs(path.join(tmp, 'sde')).map(a => a.replace('TREE', tree))
    const i = args.indexOf('--created')
    args.splice(i, 2)
    const r = await cli(args, { SOURCE_DATE_EPOCH: '1715000000' })
    expect(r.code).toBe(0)
    const o = r.out
    const manifest = JSON.parse(
      await fs.readFile(path.join(tmp, 'sde', 'blobs/sha256', o.digest.slice(7)), 'utf8')
    )
    const config = JSON.parse(
      await fs.readFile(
        path.join(tmp, 'sde', 'blobs/sha256', manifest.config.digest.slice(7)),
        'utf8'
      )
    )
    expect(config.created).toBe(new Date(1715000000 * 1000).toISOString().replace('.000Z', 'Z'))
    const r2 = await cli(
      args.map(a => a.replace(path.join(tmp, 'sde'), path.join(tmp, 'sde2'))),
      { SOURCE_DATE_EPOCH: '1715000000' }
    )
    expect(r2.out.digest).toBe(o.digest)
  })
})

describe('lading build: several platforms on scratch', () => {
  itWithTools(
    ['skopeo'],
    'gives an index with one manifest per platform sharing the layer, written to an archive too',
    async () => {
      const layout = path.join(tmp, 'multi')
      const archive = path.join(tmp, 'multi.tar')
      const r = await cli([
        'build',
        '--platforms',
        'linux/amd64,linux/arm64/v8',
        '--platforms',
        'linux/arm/v7',
        '--layers',
        `${tree}/bin:/bin`,
        '--output',
        layout,
        '--archive',
        archive,
        '--created',
        '0'
      ])
      expect(r.err).toBe(r.code === 0 ? r.err : '')
      expect(r.code).toBe(0)
      const o = r.out
      expect(o['media-type']).toBe('application/vnd.oci.image.index.v1+json')
      expect(o.platforms).toBe('linux/amd64,linux/arm64/v8,linux/arm/v7')
      expect(o['config-digest']).toBeUndefined()
      const index = JSON.parse(
        await fs.readFile(path.join(layout, 'blobs/sha256', o.digest.slice(7)), 'utf8')
      )
      expect(
        index.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture)
      ).toEqual(['amd64', 'arm64', 'arm'])
      const layers = new Set<string>()
      for (const m of index.manifests) {
        const man = JSON.parse(
          await fs.readFile(path.join(layout, 'blobs/sha256', m.digest.slice(7)), 'utf8')
        )
        layers.add(man.layers[0].digest)
        const cfg = JSON.parse(
          await fs.readFile(path.join(layout, 'blobs/sha256', man.config.digest.slice(7)), 'utf8')
        )
        expect(cfg.architecture).toBe(m.platform.architecture)
      }
      expect(layers.size).toBe(1)
      await fs.access(archive)
      const arm = JSON.parse(
        execFileSync(
          'skopeo',
          [
            'inspect',
            '--override-arch',
            'arm',
            '--override-variant',
            'v7',
            `oci-archive:${archive}:latest`
          ],
          { encoding: 'utf8' }
        )
      )
      expect(arm.Architecture).toBe('arm')
    }
  )
})

describe('bad input fails with a message naming the input and the value, and leaves no layout', () => {
  // 2: a usage error caught while reading the inputs; 1: a failure while building
  const cases: Array<[string, string[], RegExp, number?]> = [
    ['a missing path', ['--layers', 'nope/dist:/app'], /layers: .*nope\/dist/],
    ['a relative DEST', ['--layers', 'TREE:app'], /layers: .*TREE:app.*absolute/s, 2],
    [
      'an unknown compression',
      ['--layers', 'TREE:/app', '--compression', 'xz'],
      /compression: "xz"/,
      2
    ],
    ['an env line without =', ['--layers', 'TREE:/app', '--env', 'JUSTKEY'], /env: "JUSTKEY"/, 2],
    [
      'an unknown transport',
      ['--from', 'containers-storage:alpine:latest'],
      /from: "containers-storage:alpine:latest".*unknown transport "containers-storage"/,
      2
    ],
    [
      'a bad platform',
      ['--layers', 'TREE:/app', '--platforms', 'linux'],
      /platforms: .*"linux"/,
      2
    ],
    [
      'a bad fail-on',
      ['--layers', 'TREE:/app', '--fail-on', 'sometimes'],
      /fail-on: "sometimes"/,
      2
    ],
    ['scratch with no layers', [], /layers: is empty and from is scratch/, 2],
    ['an unreadable file', ['--layers', '/proc/self/mem:/mem'], /layers: .*\/proc\/self\/mem/]
  ]
  it.each(cases)('%s', async (_name, args, message, code = 1) => {
    const out = path.join(tmp, 'bad-' + _name.replace(/\W+/g, '-'))
    const r = await cli(['build', '--output', out, ...args.map(a => a.replace('TREE', tree))])
    expect(r.code).toBe(code)
    expect(r.err.replaceAll(tree, 'TREE')).toMatch(message)
    expect(r.err).not.toMatch(/\n\s+at /) // no stack trace
    await expect(fs.access(out)).rejects.toThrow()
    const leftovers = (await fs.readdir(tmp)).filter(n => n.startsWith(`.bad-`))
    expect(leftovers).toEqual([])
  })
})

describe('layers built side by side', () => {
  it('layers built at once are listed in the order given, however long each takes', async () => {
    const big = path.join(tmp, 'big')
    const small = path.join(tmp, 'small')
    await fs.mkdir(big)
    await fs.mkdir(small)
    await fs.writeFile(path.join(big, 'data'), Buffer.alloc(8 * 1024 * 1024, 7))
    await fs.writeFile(path.join(small, 'x'), 'x')
    const out = path.join(tmp, 'ordered')
    const r = await cli([
      'build',
      '--layers',
      `${big}:/big`,
      '--layers',
      `${small}:/small`,
      '--layers',
      `${big}/data:/again/data`,
      '--output',
      out
    ])
    expect(r.code).toBe(0)
    const logged = [...r.err.matchAll(/^layer (\S+): /gm)].map(m => m[1])
    expect(logged).toEqual([`${big}:/big`, `${small}:/small`, `${big}/data:/again/data`])
    const index = JSON.parse(await fs.readFile(path.join(out, 'index.json'), 'utf8'))
    const manifest = JSON.parse(
      await fs.readFile(
        path.join(out, 'blobs', 'sha256', index.manifests[0].digest.slice(7)),
        'utf8'
      )
    )
    const sizes = (manifest.layers as Descriptor[]).map(l => l.size)
    expect(sizes[1]).toBeLessThan(1000)
    expect(sizes[0]).toBeGreaterThan(sizes[1])
    expect(sizes[2]).toBeGreaterThan(sizes[1])
  })
})
