/**
 * Modes of layer entries by the platform the sources are read on: POSIX modes kept as they are,
 * Windows' meaningless ones replaced by 0755 (directories), 0644 (files) and 0777 (symlinks).
 */
import { afterAll, describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import * as zlib from 'node:zlib'
import * as tar from 'tar-stream'
import { constants as fsc } from 'node:fs'
import { buildLayer } from '../../../src/build/layer/index.js'
import { layerMode } from '../../../src/build/layer/modes.js'
import { Layout } from '../../../src/transports/layout.js'
import { layerChecks } from '../../../src/validate/layer/checks.js'

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'lading-modes-'))
afterAll(() => fs.rmSync(work, { recursive: true, force: true }))

describe('layerMode', () => {
  it('keeps a POSIX mode, type bits and all', () => {
    for (const platform of ['linux', 'darwin'] as const) {
      expect(layerMode(fsc.S_IFREG | 0o4750, platform)).toBe(fsc.S_IFREG | 0o4750)
      expect(layerMode(fsc.S_IFDIR | 0o700, platform)).toBe(fsc.S_IFDIR | 0o700)
    }
  })

  it("replaces what Windows reports (0666, or 0444 read-only) by a fresh checkout's modes", () => {
    expect(layerMode(fsc.S_IFDIR | 0o666, 'win32')).toBe(fsc.S_IFDIR | 0o755)
    expect(layerMode(fsc.S_IFREG | 0o666, 'win32')).toBe(fsc.S_IFREG | 0o644)
    expect(layerMode(fsc.S_IFREG | 0o444, 'win32')).toBe(fsc.S_IFREG | 0o644)
    expect(layerMode(fsc.S_IFLNK | 0o666, 'win32')).toBe(fsc.S_IFLNK | 0o777)
  })
})

async function modesOf(platform: NodeJS.Platform): Promise<Record<string, number>> {
  const store = new Layout(path.join(work, `store-${platform}`))
  await store.init()
  const built = await buildLayer(
    { source: path.join(work, 'tree'), dest: '/app', spec: 'tree:/app' },
    store,
    {
      compression: 'gzip',
      checks: layerChecks,
      mtime: new Date(0),
      platform
    }
  )
  const bytes = zlib.gunzipSync(fs.readFileSync(store.path(built.descriptor.digest)))
  const modes: Record<string, number> = {}
  const ex = tar.extract()
  ex.on('entry', (h, stream, next) => {
    modes[h.name] = (h.mode ?? 0) & 0o7777
    stream.resume()
    stream.on('end', next)
  })
  await new Promise<void>((resolve, reject) => {
    ex.on('finish', () => resolve())
    ex.on('error', reject)
    ex.end(bytes)
  })
  return modes
}

describe('buildLayer on each platform', () => {
  fs.mkdirSync(path.join(work, 'tree', 'private'), { recursive: true })
  fs.writeFileSync(path.join(work, 'tree', 'private', 'key'), 'k')
  fs.writeFileSync(path.join(work, 'tree', 'run.sh'), '#!/bin/sh\n')
  fs.chmodSync(path.join(work, 'tree', 'private', 'key'), 0o600)
  fs.chmodSync(path.join(work, 'tree', 'private'), 0o700)
  fs.chmodSync(path.join(work, 'tree', 'run.sh'), 0o755)

  it('keeps the modes of a POSIX file system', async () => {
    const modes = await modesOf('linux')
    expect(modes['app/private/']).toBe(0o700)
    expect(modes['app/private/key']).toBe(0o600)
    expect(modes['app/run.sh']).toBe(0o755)
  })

  it('gives the Windows defaults to every entry read on Windows', async () => {
    const modes = await modesOf('win32')
    expect(modes['app/private/']).toBe(0o755)
    expect(modes['app/private/key']).toBe(0o644)
    expect(modes['app/run.sh']).toBe(0o644)
  })
})
