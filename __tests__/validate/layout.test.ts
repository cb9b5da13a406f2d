/**
 * Layouts made by independent tools (umoci, buildah, skopeo through a real registry) must pass
 * with no error; the same layouts with one corrupted blob must not. A layout's blob files: a
 * symlink to a regular file, and an unreferenced one whose content does not match its name.
 */
import { afterAll, describe, expect, it } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { formatReport, validateLayout, type Report } from '../../src/validate/index.js'
import { startRegistry, type TestRegistry } from '../helpers/registry-server.js'
import { itWithTools } from '../helpers/tools.js'
import { trackedTempDirs } from '../helpers/transports-fixtures.js'
import { sha256, writeLayout } from '../helpers/validate-fixtures.js'

const run = (cmd: string, args: string[], opts: { cwd?: string } = {}): string =>
  execFileSync(cmd, args, {
    encoding: 'utf8',
    timeout: 60000,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...opts
  })

const work = trackedTempDirs('lading-validate-tools-')
const registries: TestRegistry[] = []

afterAll(async () => {
  for (const r of registries) await r.stop()
})

function expectNoErrors(r: Report): void {
  if (r.errors) console.log(formatReport(r))
  expect(r.errors).toBe(0)
  expect(r.valid).toBe(true)
}

/** Flips one byte in the largest blob: the validator must then report an error. */
async function expectCorruptionCaught(layout: string): Promise<void> {
  const blobs = path.join(layout, 'blobs', 'sha256')
  let biggest = ''
  let size = -1
  for (const f of await fs.readdir(blobs)) {
    const s = (await fs.stat(path.join(blobs, f))).size
    if (s > size) [biggest, size] = [f, s]
  }
  const file = path.join(blobs, biggest)
  const data = await fs.readFile(file)
  data[Math.floor(data.length / 2)] ^= 0xff
  await fs.writeFile(file, data)
  const r = await validateLayout(layout)
  expect(r.findings.map(f => f.rule)).toContain('blob-digest-mismatch')
  expect(r.valid).toBe(false)
}

async function umociImage(root: string): Promise<string> {
  const layout = path.join(root, 'umoci')
  const src = path.join(root, 'src')
  await fs.mkdir(path.join(src, 'etc'), { recursive: true })
  await fs.writeFile(path.join(src, 'etc', 'hello'), 'hello\n')
  await fs.symlink('hello', path.join(src, 'etc', 'link'))
  await fs.mkdir(path.join(src, 'opt', 'app'), { recursive: true })
  await fs.writeFile(path.join(src, 'opt', 'app', 'run.sh'), '#!/bin/sh\necho hi\n')
  run('umoci', ['init', '--layout', layout])
  run('umoci', ['new', '--image', `${layout}:latest`])
  run('umoci', ['insert', '--image', `${layout}:latest`, path.join(src, 'etc'), '/etc'])
  run('umoci', ['insert', '--image', `${layout}:latest`, path.join(src, 'opt'), '/opt'])
  run('umoci', ['insert', '--image', `${layout}:latest`, '--whiteout', '/etc/link'])
  run('umoci', [
    'config',
    '--image',
    `${layout}:latest`,
    '--config.env',
    'FOO=bar',
    '--config.cmd',
    '/bin/sh'
  ])
  run('umoci', ['gc', '--layout', layout])
  return layout
}

describe('layouts made by other tools', () => {
  itWithTools(
    ['umoci'],
    'umoci init/new/insert/config: no errors; a corrupted blob is caught',
    async () => {
      const layout = await umociImage(await work())
      expectNoErrors(await validateLayout(layout, { requireAllBlobs: true }))
      await expectCorruptionCaught(layout)
    }
  )

  // umoci 0.4.7 writes `insert --opaque` layers without the tar's final padding and end blocks;
  // GNU tar is the oracle for whether a layer is a readable tar, whatever the umoci version.
  itWithTools(
    ['umoci', 'tar', 'gzip'],
    'umoci insert --opaque: the tar verdict agrees with GNU tar',
    async () => {
      const root = await work()
      const layout = path.join(root, 'opaque')
      await fs.mkdir(path.join(root, 'opt', 'app'), { recursive: true })
      await fs.writeFile(path.join(root, 'opt', 'app', 'run.sh'), 'x\n')
      run('umoci', ['init', '--layout', layout])
      run('umoci', ['new', '--image', `${layout}:latest`])
      run('umoci', [
        'insert',
        '--image',
        `${layout}:latest`,
        '--opaque',
        path.join(root, 'opt'),
        '/opt'
      ])
      const index = JSON.parse(await fs.readFile(path.join(layout, 'index.json'), 'utf8'))
      const manifest = JSON.parse(
        await fs.readFile(
          path.join(layout, 'blobs/sha256', index.manifests[0].digest.slice(7)),
          'utf8'
        )
      )
      const blob = path.join(layout, 'blobs/sha256', manifest.layers[0].digest.slice(7))
      let gnuTarReads = true
      try {
        execFileSync('sh', ['-c', 'gzip -dc "$1" | tar -tf - >/dev/null 2>&1', 'sh', blob], {
          stdio: 'ignore'
        })
      } catch {
        gnuTarReads = false
      }
      const r = await validateLayout(layout)
      const tarRules = ['layer-tar', 'layer-tar-unterminated']
      expect(r.findings.some(f => tarRules.includes(f.rule))).toBe(!gnuTarReads)
      expect(r.findings.filter(f => !tarRules.includes(f.rule))).toEqual([])
    }
  )

  itWithTools(['buildah'], 'buildah from scratch + copy + commit oci:DIR: no errors', async () => {
    const root = await work()
    const g = [
      '--root',
      path.join(root, 'storage'),
      '--runroot',
      path.join(root, 'run'),
      '--storage-driver',
      'vfs'
    ]
    await fs.writeFile(path.join(root, 'file'), 'hello from buildah\n')
    const ctr = run('buildah', [...g, 'from', 'scratch']).trim()
    try {
      run('buildah', [...g, 'copy', ctr, path.join(root, 'file'), '/app/file'])
      run('buildah', [...g, 'config', '--env', 'A=b', '--cmd', '/app/file', ctr])
      for (const compression of ['true', 'false']) {
        const out = path.join(root, `out-${compression}`)
        run('buildah', [
          ...g,
          'commit',
          `--disable-compression=${compression}`,
          ctr,
          `oci:${out}:latest`
        ])
        expectNoErrors(await validateLayout(out, { requireAllBlobs: true }))
      }
      await expectCorruptionCaught(path.join(root, 'out-false'))
    } finally {
      run('buildah', [...g, 'rm', ctr])
    }
  })

  itWithTools(
    ['umoci', 'skopeo', 'docker-registry'],
    'skopeo copy umoci image → real registry → oci:DIR: no errors',
    async () => {
      const root = await work()
      const layout = await umociImage(root)
      const registry = await startRegistry('none')
      registries.push(registry)
      const { host } = registry
      run('skopeo', [
        'copy',
        '--dest-tls-verify=false',
        `oci:${layout}:latest`,
        `docker://${host}/lading/test:1`
      ])
      const back = path.join(root, 'back')
      run('skopeo', [
        'copy',
        '--src-tls-verify=false',
        `docker://${host}/lading/test:1`,
        `oci:${back}:latest`
      ])
      expectNoErrors(await validateLayout(back, { requireAllBlobs: true }))
      await expectCorruptionCaught(back)
    }
  )
})

const newDir = trackedTempDirs('lading-validate-')

describe('layout blobs', () => {
  it('accepts a blob that is a symlink to a regular file', async () => {
    const dir = await newDir()
    const b = await writeLayout(dir)
    const elsewhere = path.join(dir, 'store')
    await fs.mkdir(elsewhere)
    await fs.rename(b.blob(b.layers[0]), path.join(elsewhere, 'layer'))
    await fs.symlink(path.join(elsewhere, 'layer'), b.blob(b.layers[0]))
    expect((await validateLayout(dir)).findings).toEqual([])
  })

  it('names the unreferenced blob file whose content does not match', async () => {
    const dir = await newDir()
    const b = await writeLayout(dir)
    const name = sha256('other')
    await fs.writeFile(b.blob(name), 'not other')
    const f = (await validateLayout(dir)).findings
    expect(f.map(x => [x.rule, x.location])).toEqual([
      ['blob-digest-mismatch', `blobs/sha256/${name.slice(7)}`]
    ])
  })
})
