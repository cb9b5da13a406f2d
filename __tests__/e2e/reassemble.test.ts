/**
 * Reassembly without a registry: images other tools wrote (skopeo's oci-archive and docker-archive)
 * become layouts, single-platform images merge into one index, and a multi-platform base gets the
 * same new layer on every platform.
 */
import { describe, it, expect, beforeAll } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { execFileSync } from 'node:child_process'
import { cli } from '../helpers/cli.js'
import { describeWithTools, itWithTools } from '../helpers/tools.js'
import { trackedTempDirs } from '../helpers/transports-fixtures.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON documents of several shapes
async function blob(layout: string, digest: string): Promise<any> {
  return JSON.parse(
    await fs.readFile(path.join(layout, 'blobs', 'sha256', digest.slice(7)), 'utf8')
  )
}

const tmpDirs = trackedTempDirs('lading-reasm-')
let tmp: string
let amd64: string
let arm64: string
beforeAll(async () => {
  tmp = await tmpDirs()
  for (const arch of ['amd64', 'arm64']) {
    const dir = path.join(tmp, `src-${arch}`)
    await fs.mkdir(dir)
    await fs.writeFile(path.join(dir, 'server'), `#!/bin/sh\necho ${arch}\n`, { mode: 0o755 })
    const r = await cli([
      'build',
      '--platforms',
      `linux/${arch}`,
      '--layers',
      `${dir}:/app`,
      '--env',
      `ARCH=${arch}`,
      '--created',
      '0',
      '--output',
      path.join(tmp, `img-${arch}`)
    ])
    expect(r.err).not.toMatch(/error/)
    expect(r.code).toBe(0)
  }
  amd64 = path.join(tmp, 'img-amd64')
  arm64 = path.join(tmp, 'img-arm64')
})

describeWithTools(
  ['skopeo', 'oci-image-tool'],
  'archives made by skopeo become valid layouts with the same layers, diff_ids and config',
  () => {
    it.each(['oci-archive', 'docker-archive'])('%s', async transport => {
      const archive = path.join(tmp, `${transport}.tar`)
      const dest =
        transport === 'oci-archive'
          ? `oci-archive:${archive}:latest`
          : `docker-archive:${archive}:example/app:1`
      execFileSync('skopeo', ['copy', '-q', `oci:${amd64}:latest`, dest])
      const out = path.join(tmp, `from-${transport}`)
      const r = await cli(['build', '--from', `${transport}:${archive}`, '--output', out])
      expect(r.err).not.toMatch(/error|warning/i)
      expect(r.code).toBe(0)
      expect(r.out.valid).toBe('true')
      const origIdx = JSON.parse(await fs.readFile(path.join(amd64, 'index.json'), 'utf8'))
      const orig = await blob(amd64, origIdx.manifests[0].digest)
      const origCfg = await blob(amd64, orig.config.digest)
      const got = await blob(out, r.out.digest)
      const gotCfg = await blob(out, got.config.digest)
      expect(gotCfg.rootfs.diff_ids).toEqual(origCfg.rootfs.diff_ids)
      expect(gotCfg.config).toEqual(origCfg.config)
      expect(gotCfg.architecture).toBe('amd64')
      expect(got.layers).toHaveLength(orig.layers.length)
      if (transport === 'oci-archive') expect(got.layers).toEqual(orig.layers)
      execFileSync('oci-image-tool', ['validate', '--type', 'image', '--ref', 'name=latest', out], {
        stdio: 'pipe'
      })
    })
  }
)

describe('merging', () => {
  itWithTools(
    ['skopeo'],
    'two single-platform images become one index, readable per platform',
    async () => {
      const out = path.join(tmp, 'merged')
      const archive = path.join(tmp, 'merged.tar')
      const r = await cli([
        'build',
        '--from',
        `oci:${amd64}`,
        '--from',
        `oci:${arm64}:latest`,
        '--annotations',
        'index:org.opencontainers.image.title=merged',
        '--output',
        out,
        '--archive',
        archive
      ])
      expect(r.err).not.toMatch(/error|warning/i)
      expect(r.code).toBe(0)
      expect(r.out['media-type']).toBe('application/vnd.oci.image.index.v1+json')
      expect(r.out.platforms).toBe('linux/amd64,linux/arm64')
      const index = await blob(out, r.out.digest)
      expect(index.annotations['org.opencontainers.image.title']).toBe('merged')
      // the platform manifests are taken as they are: same digests as the sources
      const srcDigests = []
      for (const l of [amd64, arm64])
        srcDigests.push(
          JSON.parse(await fs.readFile(path.join(l, 'index.json'), 'utf8')).manifests[0].digest
        )
      expect(index.manifests.map((m: { digest: string }) => m.digest)).toEqual(srcDigests)
      for (const arch of ['amd64', 'arm64']) {
        const cfg = JSON.parse(
          execFileSync(
            'skopeo',
            ['inspect', '--config', '--override-arch', arch, `oci-archive:${archive}:latest`],
            { encoding: 'utf8' }
          )
        )
        expect(cfg.config.Env).toContain(`ARCH=${arch}`)
      }
    }
  )

  it('a multi-platform base with layers gives each platform its base layers plus the same new layer', async () => {
    // Its own merge of the two images, whatever the tests before it did.
    const merged = path.join(tmp, 'base-merged')
    const base = await cli([
      'build',
      '--from',
      `oci:${amd64}`,
      '--from',
      `oci:${arm64}`,
      '--output',
      merged
    ])
    expect(base.code).toBe(0)
    const extra = path.join(tmp, 'extra')
    await fs.mkdir(extra)
    await fs.writeFile(path.join(extra, 'VERSION'), '1.2.3\n')
    const out = path.join(tmp, 'layered')
    const r = await cli([
      'build',
      '--from',
      `oci:${merged}`,
      '--layers',
      `${extra}:/etc/app`,
      '--output',
      out
    ])
    expect(r.err).not.toMatch(/^(error|lading:)/m)
    expect(r.code).toBe(0)
    const baseIndex = await blob(
      merged,
      JSON.parse(await fs.readFile(path.join(merged, 'index.json'), 'utf8')).manifests[0].digest
    )
    const index = await blob(out, r.out.digest)
    expect(index.manifests).toHaveLength(2)
    const newLayers = new Set<string>()
    for (const [i, m] of index.manifests.entries()) {
      const man = await blob(out, m.digest)
      const base = await blob(merged, baseIndex.manifests[i].digest)
      expect(m.platform).toEqual(baseIndex.manifests[i].platform)
      expect(man.layers.slice(0, -1)).toEqual(base.layers)
      newLayers.add(man.layers.at(-1).digest)
      const cfg = await blob(out, man.config.digest)
      expect(cfg.rootfs.diff_ids).toHaveLength(base.layers.length + 1)
    }
    expect(newLayers.size).toBe(1)
  })

  it('platforms filters the merged sources', async () => {
    const r = await cli([
      'build',
      '--from',
      `oci:${amd64}`,
      '--from',
      `oci:${arm64}`,
      '--platforms',
      'linux/arm64',
      '--output',
      path.join(tmp, 'filtered')
    ])
    expect(r.code).toBe(0)
    expect(r.out.platforms).toBe('linux/arm64')
    expect(r.out['media-type']).toBe('application/vnd.oci.image.manifest.v1+json')
  })
})

describe('clear failures', () => {
  it('the same platform from two sources names both', async () => {
    const out = path.join(tmp, 'dup')
    const r = await cli([
      'build',
      '--from',
      `oci:${amd64}`,
      '--from',
      `oci:${amd64}:latest`,
      '--output',
      out
    ])
    expect(r.code).toBe(1)
    expect(r.err).toContain(
      `platform linux/amd64 is given twice: by "oci:${amd64}" and by "oci:${amd64}:latest"`
    )
    expect(r.err).not.toMatch(/\n\s+at /)
    await expect(fs.access(out)).rejects.toThrow()
  })

  it('an archive that is neither a layout nor a docker save', async () => {
    const bogus = path.join(tmp, 'bogus.tar')
    execFileSync('tar', ['-cf', bogus, '-C', path.join(tmp, 'src-amd64'), 'server'])
    const r = await cli([
      'build',
      '--from',
      `oci-archive:${bogus}`,
      '--output',
      path.join(tmp, 'bogus')
    ])
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/not an OCI layout archive nor a docker save tarball/)
    expect(r.err).not.toMatch(/\n\s+at /)
  })

  it('a platform filter that matches nothing lists what there is', async () => {
    const r = await cli([
      'build',
      '--from',
      `oci:${amd64}`,
      '--platforms',
      'linux/s390x',
      '--output',
      path.join(tmp, 'none')
    ])
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/platforms: none of linux\/s390x .* linux\/amd64/)
  })

  it('lists ten platforms of a base at most when the filter matches none', async () => {
    const arches = ['386', 'amd64', 'arm64', 'ppc64le', 'riscv64', 'mips64le', 'loong64']
    const platforms = [
      ...arches.map(a => `linux/${a}`),
      ...arches.slice(0, 5).map(a => `freebsd/${a}`)
    ]
    const wide = path.join(tmp, 'wide')
    const made = await cli([
      'build',
      '--platforms',
      platforms.join(','),
      '--layers',
      `${path.join(tmp, 'src-amd64')}:/app`,
      '--output',
      wide
    ])
    expect(made.code).toBe(0)
    const r = await cli([
      'build',
      '--from',
      `oci:${wide}`,
      '--platforms',
      'linux/s390x',
      '--output',
      path.join(tmp, 'none12')
    ])
    expect(r.code).toBe(1)
    const said = /platforms: none of linux\/s390x is in the base image\(s\), which have (.*)/.exec(
      r.err
    )
    expect(said?.[1].split(', ')).toHaveLength(10)
    expect(said?.[1]).toMatch(/ and 2 more$/)
  })
})
