import { describe, it, expect } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { openLayout } from '../../src/transports/layout-image.js'
import { LadingError } from '../../src/util/errors.js'
import {
  exec,
  readImage,
  sha256,
  trackedTempDirs,
  writeFixtureLayout
} from '../helpers/transports-fixtures.js'
import { itWithTools } from '../helpers/tools.js'

const tmp = trackedTempDirs()

describe('openLayout', () => {
  it('opens the only image of a layout and reads verified blobs', async () => {
    const dir = path.join(await tmp(), 'lay')
    const [w] = await writeFixtureLayout(dir, [{ layers: [{ 'a.txt': 'A' }, { 'b.txt': 'B' }] }])
    const src = await openLayout(dir)
    expect(src.name).toBe(`oci:${dir}`)
    expect(src.root.digest).toBe(w.manifest.digest)
    const img = await readImage(src)
    expect(img.configBytes.equals(w.configBytes)).toBe(true)
    expect(img.config.rootfs.diff_ids).toEqual(w.layerTars.map(t => sha256(t)))
    expect(await src.has({ mediaType: 'x', digest: sha256('nope'), size: 4 })).toBe(false)
    await src.close()
  })

  it('selects by ref name or digest, and lists the refs otherwise', async () => {
    const dir = path.join(await tmp(), 'lay')
    const [a, b] = await writeFixtureLayout(dir, [
      { ref: 'amd', layers: [{ f: '1' }] },
      { ref: 'arm', layers: [{ f: '2' }], architecture: 'arm64' }
    ])
    expect((await openLayout(dir, 'arm')).root.digest).toBe(b.manifest.digest)
    expect((await openLayout(dir, a.manifest.digest)).root.digest).toBe(a.manifest.digest)

    const noRef = openLayout(dir, undefined, 'oci:lay')
    await expect(noRef).rejects.toThrow(LadingError)
    await expect(noRef).rejects.toThrow(/"amd".*"arm".*oci:.*:REF/)
    const bad = openLayout(dir, 'riscv', 'oci:lay:riscv')
    await expect(bad).rejects.toThrow(/from "oci:lay:riscv": no image named "riscv".*"amd".*"arm"/)
  })

  it('names at most ten entries in its errors, each on the same line whatever its ref name holds', async () => {
    const dir = path.join(await tmp(), 'lay')
    const refs = Array.from({ length: 15 }, (_, i) => (i === 3 ? 'x\n::error::y' : `r${i}`))
    await writeFixtureLayout(
      dir,
      refs.map((ref, i) => ({ ref, layers: [{ f: String(i) }] }))
    )
    for (const ref of [undefined, 'nope']) {
      const e = await openLayout(dir, ref, 'oci:lay').catch(x => x)
      expect(e).toBeInstanceOf(LadingError)
      expect(e.message).not.toContain('\n')
      expect(e.message).toContain('"x\\n::error::y" (sha256:')
      expect(e.message).toContain('"r9" (sha256:')
      expect(e.message).not.toContain('"r10"')
      expect(e.message).toMatch(/ and 5 more/)
    }
  })

  it('detects a corrupt blob on read', async () => {
    const dir = path.join(await tmp(), 'lay')
    const [w] = await writeFixtureLayout(dir, [{ layers: [{ f: '1' }] }])
    const cfg = w.manifestBody.config
    await fs.writeFile(path.join(dir, 'blobs', 'sha256', cfg.digest.slice(7)), '{"x":1}')
    const src = await openLayout(dir)
    await expect(src.read(cfg)).rejects.toThrow(/corrupt/)
    await fs.rm(path.join(dir, 'blobs', 'sha256', cfg.digest.slice(7)))
    await expect(src.read(cfg)).rejects.toThrow(/missing from oci:/)
    await expect(src.open(cfg)).rejects.toThrow(LadingError)
  })

  it('gives clear errors for a missing directory, a non-layout and a broken index', async () => {
    const base = await tmp()
    await expect(openLayout(path.join(base, 'nope'), undefined, 'oci:nope')).rejects.toThrow(
      /from "oci:nope": the directory .*nope does not exist/
    )
    await expect(openLayout(base, undefined, 'oci:base')).rejects.toThrow(
      /from "oci:base": cannot read the oci-layout file/
    )
    await fs.writeFile(path.join(base, 'f.tar'), 'x')
    await expect(openLayout(path.join(base, 'f.tar'))).rejects.toThrow(/use oci-archive:/)
    await fs.writeFile(path.join(base, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
    await fs.writeFile(path.join(base, 'index.json'), '{"manifests": [{"digest": "md5:1"}]}')
    await expect(openLayout(base)).rejects.toThrow(/manifests\[0\] is not a valid descriptor/)
    await fs.writeFile(path.join(base, 'index.json'), '{"manifests": []}')
    await expect(openLayout(base)).rejects.toThrow(/lists no images/)
    await fs.writeFile(path.join(base, 'index.json'), 'not json')
    await expect(openLayout(base)).rejects.toThrow(/index.json is not valid JSON/)
  })

  itWithTools(['umoci'], 'reads a layout that umoci made', async () => {
    const base = await tmp()
    const lay = path.join(base, 'L')
    await fs.mkdir(path.join(base, 'src', 'etc'), { recursive: true })
    await fs.writeFile(path.join(base, 'src', 'etc', 'hello'), 'hi\n')
    await exec('umoci', ['init', '--layout', lay])
    await exec('umoci', ['new', '--image', `${lay}:t1`])
    await exec('umoci', [
      'insert',
      '--rootless',
      '--image',
      `${lay}:t1`,
      path.join(base, 'src'),
      '/'
    ])
    await exec('umoci', ['config', '--image', `${lay}:t1`, '--config.cmd', '/bin/true'])
    await exec('umoci', ['gc', '--layout', lay])
    const src = await openLayout(lay, 't1')
    const img = await readImage(src)
    expect(img.manifest.layers).toHaveLength(1)
    expect(img.config.config?.Cmd).toEqual(['/bin/true'])
    // umoci's own view of the image: the manifest digest it reports must be our root.
    const { stdout } = await exec('umoci', ['stat', '--image', `${lay}:t1`, '--json'])
    expect(JSON.parse(stdout).history.length).toBeGreaterThan(0)
    const index = JSON.parse(await fs.readFile(path.join(lay, 'index.json'), 'utf8'))
    expect(src.root.digest).toBe(index.manifests[0].digest)
    await expect(openLayout(lay, 't2')).rejects.toThrow(/no image named "t2".*"t1"/)
  })
})
