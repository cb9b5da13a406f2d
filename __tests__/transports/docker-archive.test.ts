import { describe, it, expect } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { gzipSync } from 'node:zlib'
import { openLayout } from '../../src/transports/layout-image.js'
import { openDockerArchive } from '../../src/transports/docker-archive.js'
import { LadingError } from '../../src/util/errors.js'
import { openAndValidate } from '../../src/app/stages/open-sources.js'
import { parseSourceSpec } from '../../src/transports/spec.js'
import type { LayoutImage } from '../../src/transports/layout-image.js'
import { ScanCache, validateLayout } from '../../src/validate/index.js'
import {
  exec,
  makeTar,
  readImage,
  sha256,
  trackedTempDirs,
  writeFixtureLayout
} from '../helpers/transports-fixtures.js'
import { itWithTools } from '../helpers/tools.js'
import { scanBlob } from '../../src/validate/layer/scan.js'

const tmp = trackedTempDirs()

interface SavedImage {
  tags: string[]
  layers: Buffer[]
  gzip?: boolean
  /** Where the files go: docker's legacy `<id>/layer.tar` or Docker 25's `blobs/sha256/<hex>`. */
  style: 'legacy' | 'blobs'
  corruptDiffId?: boolean
}

/** A `docker save` tarball written by hand, to cover shapes skopeo does not produce. */
async function dockerSave(file: string, images: SavedImage[]): Promise<{ configs: Buffer[] }> {
  const entries: { name: string; content: Buffer }[] = []
  const manifest = []
  const configs: Buffer[] = []
  for (const [n, img] of images.entries()) {
    const diffIds = img.layers.map(t => sha256(t))
    if (img.corruptDiffId) diffIds[0] = sha256('something else')
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'arm',
        variant: 'v7',
        os: 'linux',
        config: { Env: ['A=1'] },
        rootfs: { type: 'layers', diff_ids: diffIds },
        history: img.layers.map(() => ({ created_by: 'x' }))
      })
    )
    configs.push(config)
    const layerNames: string[] = []
    for (const [i, t] of img.layers.entries()) {
      const data = img.gzip ? gzipSync(t) : t
      const name =
        img.style === 'legacy'
          ? `${n}${'0'.repeat(62)}${i}/layer.tar`
          : `blobs/sha256/${sha256(data).slice(7)}`
      entries.push({ name, content: data })
      layerNames.push(name)
    }
    const configName =
      img.style === 'legacy'
        ? `${sha256(config).slice(7)}.json`
        : `blobs/sha256/${sha256(config).slice(7)}`
    entries.push({ name: configName, content: config })
    manifest.push({ Config: configName, RepoTags: img.tags, Layers: layerNames })
  }
  entries.push({ name: 'manifest.json', content: Buffer.from(JSON.stringify(manifest)) })
  await fs.writeFile(file, await makeTar(entries))
  return { configs }
}

describe('openDockerArchive', () => {
  itWithTools(
    ['skopeo', 'tar'],
    'reads what skopeo writes as docker-archive (legacy layout with symlinks)',
    async () => {
      const base = await tmp()
      const lay = path.join(base, 'lay')
      await writeFixtureLayout(lay, [
        { ref: 'one', layers: [{ 'a/x': 'x' }, { 'b/y': 'y' }], gzip: true, architecture: 'arm64' }
      ])
      const archive = path.join(base, 'y.tar')
      await exec('skopeo', ['copy', `oci:${lay}:one`, `docker-archive:${archive}:repo/name:t1`])
      const savedManifest = JSON.parse(
        (await exec('tar', ['-xOf', archive, 'manifest.json'])).stdout
      )
      const skopeoConfig = Buffer.from(
        (await exec('tar', ['-xOf', archive, savedManifest[0].Config], { encoding: 'buffer' }))
          .stdout
      )

      const want = await readImage(await openLayout(lay, 'one'))
      for (const ref of [undefined, 'repo/name:t1', 'docker.io/repo/name:t1']) {
        const src = await openDockerArchive(archive, scanBlob, undefined, ref)
        const got = await readImage(src)
        expect(got.configBytes.equals(skopeoConfig)).toBe(true)
        expect(got.manifest.config.mediaType).toBe('application/vnd.oci.image.config.v1+json')
        expect(got.config.rootfs.diff_ids).toEqual(want.config.rootfs.diff_ids)
        expect(got.config.config).toEqual(want.config.config)
        // skopeo stores the layers uncompressed, so each digest is its diff_id
        expect(got.layerDigests).toEqual(want.config.rootfs.diff_ids)
        expect(got.layerMediaTypes).toEqual(Array(2).fill('application/vnd.oci.image.layer.v1.tar'))
        expect(src.root.platform).toEqual({ os: 'linux', architecture: 'arm64' })
        await src.close()
        await expect(fs.access(src.dir)).rejects.toThrow()
      }
      await expect(
        openDockerArchive(archive, scanBlob, undefined, 'repo/other:t1')
      ).rejects.toThrow(/no image tagged "repo\/other:t1" .* holds docker.io\/repo\/name:t1/)
    }
  )

  itWithTools(
    ['oci-image-tool'],
    'converts a gzip-layer docker save into an image oci-image-tool accepts',
    async () => {
      const base = await tmp()
      const archive = path.join(base, 'save.tar')
      const layers = [
        await makeTar([{ name: 'etc/a', content: 'a' }]),
        await makeTar([{ name: 'b', content: 'b' }])
      ]
      const { configs } = await dockerSave(archive, [
        { tags: ['app:1'], layers, gzip: true, style: 'blobs' }
      ])
      const src = await openDockerArchive(archive, scanBlob)
      const got = await readImage(src)
      expect(got.configBytes.equals(configs[0])).toBe(true)
      expect(got.layerMediaTypes).toEqual(
        Array(2).fill('application/vnd.oci.image.layer.v1.tar+gzip')
      )
      expect(got.layerDigests).toEqual(layers.map(t => sha256(gzipSync(t))))
      expect(src.root.platform).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' })
      // the converted layout is a valid image to an independent validator (which checks schemas,
      // digests and sizes; it exits non-zero otherwise)
      const { stdout } = await exec('oci-image-tool', ['validate', '--type', 'image', src.dir])
      expect(stdout).toMatch(/Validation succeeded/)
      await src.close()
    }
  )

  it('reads each layer once: validating the converted source takes the scans made converting it', async () => {
    const base = await tmp()
    const archive = path.join(base, 'once.tar')
    const layers = [
      await makeTar([
        { name: 'etc/a', content: 'a' },
        { name: 'etc/.wh..wh.aufs', content: '' }
      ]),
      await makeTar([{ name: 'b', content: 'b'.repeat(100000) }])
    ]
    await dockerSave(archive, [{ tags: ['app:1'], layers, gzip: true, style: 'legacy' }])
    const spec = parseSourceSpec(`docker-archive:${archive}`)
    const scans = new ScanCache()
    const once = await openAndValidate(spec, 'from', { insecureRegistries: [] }, { scans })
    expect(scans.reads).toBe(0)
    expect(scans.reused).toBe(2)
    // The same findings as reading the converted layout's layers afresh.
    const src = once.source as LayoutImage
    const afresh = (await validateLayout(src.dir)).findings.map(f => ({
      ...f,
      location: `from ${f.location}`
    }))
    expect(once.findings).toEqual(afresh)
    expect(once.findings.map(f => f.rule)).toContain('layer-whiteout-meta')
    await src.close()
  })

  it('lists at most ten images when none is chosen, each on one line', async () => {
    const base = await tmp()
    const archive = path.join(base, 'many.tar')
    const layer = await makeTar([{ name: 'one', content: '1' }])
    await dockerSave(
      archive,
      Array.from({ length: 12 }, (_, i) => ({
        tags: [i === 0 ? 'a:1\r\n::error::x' : `r${i}:1`],
        layers: [layer],
        style: 'legacy' as const
      }))
    )
    const e = await openDockerArchive(archive, scanBlob, 'docker-archive:many.tar').catch(x => x)
    expect(e).toBeInstanceOf(LadingError)
    expect(e.message).toContain('holds 12 images: a:1\\r\\n::error::x, r1:1,')
    expect(e.message).not.toMatch(/[\r\n]/)
    expect(e.message).toContain('r9:1 and 2 more;')
    expect(e.message).not.toContain('r10:1')
  })

  it('reads the legacy layout, selects by RepoTag and lists the tags otherwise', async () => {
    const base = await tmp()
    const archive = path.join(base, 'multi.tar')
    const l1 = [await makeTar([{ name: 'one', content: '1' }])]
    const l2 = [
      await makeTar([{ name: 'two', content: '2' }]),
      await makeTar([{ name: 'three', content: '3' }])
    ]
    await dockerSave(archive, [
      { tags: ['alpine:3'], layers: l1, style: 'legacy' },
      { tags: ['ghcr.io/o/r:2', 'ghcr.io/o/r:latest'], layers: l2, style: 'legacy' }
    ])
    const e = await openDockerArchive(archive, scanBlob, 'docker-archive:multi.tar').catch(x => x)
    expect(e).toBeInstanceOf(LadingError)
    expect(e.message).toMatch(
      /holds 2 images: alpine:3, ghcr.io\/o\/r:2 ghcr.io\/o\/r:latest; choose one with docker-archive:.*multi.tar:REPO:TAG/
    )
    const a = await openDockerArchive(archive, scanBlob, undefined, 'docker.io/library/alpine:3')
    expect((await readImage(a)).layerDigests).toEqual(l1.map(t => sha256(t)))
    await a.close()
    const r = await openDockerArchive(archive, scanBlob, undefined, 'ghcr.io/o/r')
    expect((await readImage(r)).layerDigests).toEqual(l2.map(t => sha256(t)))
    await r.close()
  })

  it('prefers the OCI view of a Docker 25+ save', async () => {
    const base = await tmp()
    const lay = path.join(base, 'lay')
    const [w] = await writeFixtureLayout(lay, [
      { ref: 'latest', layers: [{ f: 'x' }], annotations: { 'org.example.kept': 'yes' } }
    ])
    const index = JSON.parse(await fs.readFile(path.join(lay, 'index.json'), 'utf8'))
    index.manifests[0].annotations['io.containerd.image.name'] = 'docker.io/library/img:latest'
    const entries = [
      { name: 'oci-layout', content: await fs.readFile(path.join(lay, 'oci-layout')) },
      { name: 'index.json', content: Buffer.from(JSON.stringify(index)) },
      {
        name: 'manifest.json',
        content: Buffer.from(
          JSON.stringify([
            {
              Config: `blobs/sha256/${w.manifestBody.config.digest.slice(7)}`,
              RepoTags: ['img:latest'],
              Layers: w.manifestBody.layers.map(l => `blobs/sha256/${l.digest.slice(7)}`)
            }
          ])
        )
      }
    ]
    for (const f of await fs.readdir(path.join(lay, 'blobs', 'sha256')))
      entries.push({
        name: `blobs/sha256/${f}`,
        content: await fs.readFile(path.join(lay, 'blobs', 'sha256', f))
      })
    const archive = path.join(base, 'd25.tar')
    await fs.writeFile(archive, await makeTar(entries))
    for (const ref of [undefined, 'img']) {
      const src = await openDockerArchive(archive, scanBlob, undefined, ref)
      // the original manifest (with its annotation), not one synthesised from manifest.json
      expect(src.root.digest).toBe(w.manifest.digest)
      expect((await readImage(src)).manifest.annotations).toEqual({ 'org.example.kept': 'yes' })
      await src.close()
    }
  })

  it('refuses a layer whose content does not match its diff_id, and non-docker files', async () => {
    const base = await tmp()
    const bad = path.join(base, 'bad.tar')
    await dockerSave(bad, [
      {
        tags: ['x:1'],
        layers: [await makeTar([{ name: 'f', content: 'f' }])],
        style: 'legacy',
        corruptDiffId: true
      }
    ])
    await expect(openDockerArchive(bad, scanBlob)).rejects.toThrow(
      /layer 0 .* has uncompressed digest .* diff_id .* corrupt/
    )

    const other = path.join(base, 'other.tar')
    await fs.writeFile(other, await makeTar([{ name: 'README', content: 'hi' }]))
    await expect(openDockerArchive(other, scanBlob)).rejects.toThrow(
      /not a docker save tarball nor an OCI layout archive/
    )

    const lay = path.join(base, 'lay')
    await writeFixtureLayout(lay, [{ layers: [{ f: 'x' }] }])
    const onlyLayout = path.join(base, 'oci.tar')
    await fs.writeFile(
      onlyLayout,
      await makeTar([
        { name: 'oci-layout', content: await fs.readFile(path.join(lay, 'oci-layout')) }
      ])
    )
    await expect(openDockerArchive(onlyLayout, scanBlob)).rejects.toThrow(/use oci-archive:/)

    const missing = path.join(base, 'missing-layer.tar')
    await fs.writeFile(
      missing,
      await makeTar([
        {
          name: 'c.json',
          content: '{"rootfs":{"type":"layers","diff_ids":["sha256:' + 'a'.repeat(64) + '"]}}'
        },
        {
          name: 'manifest.json',
          content: '[{"Config":"c.json","RepoTags":null,"Layers":["l/layer.tar"]}]'
        }
      ])
    )
    await expect(openDockerArchive(missing, scanBlob)).rejects.toThrow(
      /names layer 0 "l\/layer.tar", which is not in/
    )
  })
})
