import { describe, it, expect } from '@jest/globals'
import {
  editConfig,
  makeIndex,
  makeManifest,
  scratchConfig,
  hasConfigEdits
} from '../../src/build/assemble.js'
import type { ConfigEdits } from '../../src/app/plan.js'
import type { ImageConfig } from '../../src/oci/types.js'

const noEdits: ConfigEdits = { env: [], labels: {}, exposedPorts: [] }
const layer = (n: number) => ({
  descriptor: {
    mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    digest: 'sha256:' + String(n).repeat(64),
    size: n
  },
  diffId: 'sha256:' + String(n + 1).repeat(64),
  createdBy: `lading: layer ${n}`
})

const base: ImageConfig = {
  architecture: 'amd64',
  os: 'linux',
  created: '2020-01-01T00:00:00Z',
  config: {
    Env: ['PATH=/usr/bin', 'A=1'],
    Cmd: ['sh'],
    Labels: { a: '1' },
    ExposedPorts: { '80/tcp': {} }
  },
  rootfs: { type: 'layers', diff_ids: ['sha256:' + '0'.repeat(64)] },
  history: [{ created_by: 'base' }]
}

describe('config edits', () => {
  it('appends diff_ids and one history entry per layer, at created', () => {
    const c = editConfig(base, noEdits, [layer(1), layer(2)], new Date(1700000000000))
    expect(c.rootfs.diff_ids).toEqual([
      'sha256:' + '0'.repeat(64),
      layer(1).diffId,
      layer(2).diffId
    ])
    expect(c.history?.map(h => h.created_by)).toEqual([
      'base',
      'lading: layer 1',
      'lading: layer 2'
    ])
    expect(c.created).toBe('2023-11-14T22:13:20Z')
    expect(base.rootfs.diff_ids).toHaveLength(1) // the base is not modified
  })

  it('replaces env by key, merges labels and ports, and entrypoint clears the base cmd', () => {
    const c = editConfig(
      base,
      {
        ...noEdits,
        env: [
          ['A', '2'],
          ['B', 'x=y']
        ],
        labels: { b: '2' },
        exposedPorts: ['8080/tcp'],
        entrypoint: ['/app']
      },
      [],
      new Date(0)
    )
    expect(c.config?.Env).toEqual(['PATH=/usr/bin', 'A=2', 'B=x=y'])
    expect(c.config?.Labels).toEqual({ a: '1', b: '2' })
    expect(c.config?.ExposedPorts).toEqual({ '80/tcp': {}, '8080/tcp': {} })
    expect(c.config?.Entrypoint).toEqual(['/app'])
    expect(c.config?.Cmd).toBeUndefined()
    // a config-only change is recorded as an empty layer in history
    expect(c.history?.at(-1)).toMatchObject({ empty_layer: true })
  })

  it('sets cmd, workdir and user', () => {
    const c = editConfig(
      scratchConfig({ os: 'linux', architecture: 'arm', variant: 'v7' }),
      { ...noEdits, cmd: ['x'], workdir: '/w', user: '1000:1000' },
      [],
      new Date(0)
    )
    expect(c).toMatchObject({
      os: 'linux',
      architecture: 'arm',
      variant: 'v7',
      config: { Cmd: ['x'], WorkingDir: '/w', User: '1000:1000' }
    })
    expect(hasConfigEdits(noEdits)).toBe(false)
    expect(hasConfigEdits({ ...noEdits, user: 'x' })).toBe(true)
  })
})

describe('manifests and indexes', () => {
  it('relabels docker base layers as OCI and appends new ones', () => {
    const m = makeManifest(
      { mediaType: 'x', digest: 'sha256:' + 'c'.repeat(64), size: 10 },
      [
        {
          mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
          digest: 'sha256:' + 'd'.repeat(64),
          size: 5
        }
      ],
      [layer(3)],
      { z: '1', a: '2' }
    )
    expect(m.config.mediaType).toBe('application/vnd.oci.image.config.v1+json')
    expect(m.layers.map(l => l.mediaType)).toEqual([
      'application/vnd.oci.image.layer.v1.tar+gzip',
      'application/vnd.oci.image.layer.v1.tar+gzip'
    ])
    expect(Object.keys(m.annotations ?? {})).toEqual(['a', 'z'])
  })
  it('makes an index without annotations when none are given', () => {
    const i = makeIndex([], {})
    expect(i).toEqual({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: []
    })
  })
})
