/**
 * Docker in and out: the docker-format archive (checked with skopeo), the name Docker 25+ reads
 * from an oci-archive, `load: true` and the `docker-daemon:` source, with a stand-in `docker`
 * script on PATH that records what it is asked and, for `save`, hands over a prepared archive.
 */
import { afterEach, beforeAll, describe, expect, it } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { parseSourceSpec } from '../../src/transports/spec.js'
import { repoTagOf } from '../../src/transports/docker-archive-writer.js'
import { openDockerArchive } from '../../src/transports/docker-archive.js'
import { scanBlob } from '../../src/validate/layer/scan.js'
import { parseReference } from '../../src/oci/reference.js'
import { cli } from '../helpers/cli.js'
import { dockerStandIn, type DockerStandIn } from '../helpers/docker-stand-in.js'
import { describeWithTools } from '../helpers/tools.js'
import { trackedTempDirs } from '../helpers/transports-fixtures.js'

const tmpDirs = trackedTempDirs('lading-docker-test-')
let tmp: string
beforeAll(async () => {
  tmp = await tmpDirs()
})
const savedPath = process.env.PATH
afterEach(() => {
  process.env.PATH = savedPath
})

let n = 0
/** A fresh directory with one file to layer. */
function appDir(): string {
  const dir = path.join(tmp, `app-${++n}`)
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true })
  fs.writeFileSync(path.join(dir, 'bin', 'hello'), `hello ${n}\n`)
  return dir
}

/** The stand-in `docker` (helpers/docker-stand-in.ts), first on this process's PATH. */
function standIn(prepared = ''): DockerStandIn {
  const docker = dockerStandIn(tmp, prepared)
  process.env.PATH = `${docker.dir}${path.delimiter}${savedPath}`
  return docker
}

function skopeoInspect(archive: string): {
  Layers: string[]
  Architecture: string
  Os: string
} {
  return JSON.parse(
    execFileSync('skopeo', ['inspect', `docker-archive:${archive}`], { encoding: 'utf8' })
  )
}

function tarList(archive: string): string[] {
  return execFileSync('tar', ['-tf', archive], { encoding: 'utf8' }).trim().split('\n')
}

function tarRead(archive: string, member: string): string {
  return execFileSync('tar', ['-xOf', archive, member], { encoding: 'utf8' })
}

const build = (...args: string[]) => cli(['build', '--push', 'false', ...args])

describe('parseSourceSpec docker-daemon:', () => {
  it('reads the image name, and refuses what docker would read as a flag', () => {
    expect(parseSourceSpec('docker-daemon:ghcr.io/o/app:1')).toEqual({
      kind: 'docker-daemon',
      image: 'ghcr.io/o/app:1'
    })
    expect(() => parseSourceSpec('docker-daemon:--help')).toThrow(/needs an image/)
    expect(() => parseSourceSpec('docker-daemon:')).toThrow(/needs an image/)
  })
})

describe('repoTagOf', () => {
  it("shortens Docker Hub's names as docker save does, and skips a reference without a tag", () => {
    expect(repoTagOf(parseReference('app:1'))).toBe('app:1')
    expect(repoTagOf(parseReference('docker.io/org/app:2'))).toBe('org/app:2')
    expect(repoTagOf(parseReference('ghcr.io/o/r:3'))).toBe('ghcr.io/o/r:3')
    expect(repoTagOf(parseReference('ghcr.io/o/r@sha256:' + 'a'.repeat(64)))).toBeUndefined()
  })
})

/** A block of tests that need skopeo as the oracle. */
const d = (name: string, fn: () => void) => describeWithTools(['skopeo'], name, fn)

d('archive-format docker', () => {
  it('writes a docker save tarball skopeo and Lading read back, the same bytes every time', async () => {
    const src = appDir()
    const args = ['--from', 'scratch', '--layers', `${src}:/app`, '--tags', 'ghcr.io/o/app:1,app:2']
    const first = path.join(tmp, 'd1.tar')
    const second = path.join(tmp, 'd2.tar')
    const out = path.join(tmp, 'd-layout')
    let r = await build(...args, '--output', out, '--archive', first, '--archive-format', 'docker')
    expect(r.code).toBe(0)
    r = await build(
      ...args,
      '--output',
      `${out}2`,
      '--archive',
      second,
      '--archive-format',
      'docker'
    )
    expect(fs.readFileSync(first).equals(fs.readFileSync(second))).toBe(true)

    const saved = JSON.parse(tarRead(first, 'manifest.json')) as Array<{
      Config: string
      RepoTags: string[]
      Layers: string[]
    }>
    expect(saved).toHaveLength(1)
    expect(saved[0].RepoTags).toEqual(['ghcr.io/o/app:1', 'app:2'])
    const config = JSON.parse(tarRead(first, saved[0].Config)) as {
      rootfs: { diff_ids: string[] }
    }
    expect(saved[0].Config).toBe(`${r.out['config-digest']?.slice('sha256:'.length)}.json`)
    expect(saved[0].Layers).toEqual(config.rootfs.diff_ids.map(id => `${id.slice(7)}/layer.tar`))
    // The layer is stored uncompressed: its own listing shows the file.
    const layerTar = path.join(tmp, 'layer.tar')
    fs.writeFileSync(layerTar, execFileSync('tar', ['-xOf', first, saved[0].Layers[0]]))
    expect(tarList(layerTar)).toContain('app/bin/hello')

    const seen = skopeoInspect(first)
    expect(seen.Layers).toEqual(config.rootfs.diff_ids)
    expect(seen.Architecture).toBe('amd64')
    expect(seen.Os).toBe('linux')

    const back = await openDockerArchive(first, scanBlob)
    try {
      expect(back.root.mediaType).toBe('application/vnd.oci.image.manifest.v1+json')
      const manifest = JSON.parse((await back.read(back.root)).toString('utf8'))
      expect(manifest.config.digest).toBe(r.out['config-digest'])
    } finally {
      await back.close?.()
    }
  })

  it('refuses an image of several platforms, naming them', async () => {
    const r = await build(
      '--from',
      'scratch',
      '--platforms',
      'linux/amd64,linux/arm64',
      '--layers',
      `${appDir()}:/app`,
      '--output',
      path.join(tmp, 'multi'),
      '--archive',
      path.join(tmp, 'multi.tar'),
      '--archive-format',
      'docker'
    )
    expect(r.code).not.toBe(0)
    expect(r.err).toMatch(
      /archive-format docker holds one image, and this one has 2 platforms \(linux\/amd64, linux\/arm64\)/
    )
    expect(fs.existsSync(path.join(tmp, 'multi.tar'))).toBe(false)
  })

  it('refuses a format it does not know', async () => {
    const r = await build('--layers', `${appDir()}:/app`, '--archive-format', 'tar')
    expect(r.err).toMatch(/archive-format: "tar" is not oci or docker/)
  })
})

describe('the oci-archive', () => {
  it("names the image for Docker 25+ by the first tag, next to the layout's ref.name", async () => {
    const archive = path.join(tmp, 'named.tar')
    const out = path.join(tmp, 'named')
    const r = await build(
      '--layers',
      `${appDir()}:/app`,
      '--tags',
      'app:1',
      '--tags',
      'ghcr.io/o/app:1',
      '--output',
      out,
      '--archive',
      archive
    )
    expect(r.code).toBe(0)
    const index = JSON.parse(tarRead(archive, 'index.json'))
    expect(index.manifests[0].annotations).toEqual({
      'org.opencontainers.image.ref.name': 'latest',
      'io.containerd.image.name': 'docker.io/library/app:1'
    })
    expect(index.manifests[0].digest).toBe(r.out.digest)
    // The layout itself keeps what it had.
    const layoutIndex = JSON.parse(fs.readFileSync(path.join(out, 'index.json'), 'utf8'))
    expect(layoutIndex.manifests[0].annotations).toEqual({
      'org.opencontainers.image.ref.name': 'latest'
    })
  })
})

d('load: true', () => {
  it('hands docker load a temporary docker-format archive when no archive is asked for', async () => {
    const docker = standIn()
    const r = await build(
      '--layers',
      `${appDir()}:/app`,
      '--tags',
      'app:1',
      '--output',
      path.join(tmp, 'l1'),
      '--load'
    )
    expect(r.code).toBe(0)
    const calls = docker.calls()
    expect(calls).toHaveLength(1)
    const m = /^load --input (.*lading-load-[^/]+\/image\.tar)$/.exec(calls[0])
    expect(m).not.toBeNull()
    // Removed once loaded.
    expect(fs.existsSync(path.dirname(m![1]))).toBe(false)
    expect(skopeoInspect(docker.received).Layers).toHaveLength(1)
    expect(JSON.parse(tarRead(docker.received, 'manifest.json'))[0].RepoTags).toEqual(['app:1'])
    expect(r.err).toContain('docker load: Loaded image: app:1')
  })

  it('loads the archive itself when one is written', async () => {
    const docker = standIn()
    const archive = path.join(tmp, 'l2.tar')
    const r = await build(
      '--layers',
      `${appDir()}:/app`,
      '--tags',
      'app:1',
      '--output',
      path.join(tmp, 'l2'),
      '--archive',
      archive,
      '--load',
      'true'
    )
    expect(r.code).toBe(0)
    expect(docker.calls()).toEqual([`load --input ${archive}`])
    expect(fs.readFileSync(docker.received).equals(fs.readFileSync(archive))).toBe(true)
  })

  it('fails clearly when there is no docker on PATH', async () => {
    process.env.PATH = fs.mkdtempSync(path.join(tmp, 'empty-'))
    const r = await build(
      '--layers',
      `${appDir()}:/app`,
      '--output',
      path.join(tmp, 'l3'),
      '--load'
    )
    expect(r.code).not.toBe(0)
    expect(r.err).toMatch(/load: true needs Docker, and there is no docker command on PATH/)
  })

  it('fails clearly when Docker has no daemon', async () => {
    const docker = standIn()
    fs.writeFileSync(path.join(docker.dir, 'fail'), '')
    const r = await build(
      '--layers',
      `${appDir()}:/app`,
      '--output',
      path.join(tmp, 'l4'),
      '--load'
    )
    expect(r.code).not.toBe(0)
    expect(r.err).toMatch(
      /load: true: `docker load --input .*` failed \(exit code 1\): Cannot connect to the Docker daemon.*; start the Docker daemon/
    )
  })
})

d('from docker-daemon:', () => {
  let prepared: string
  let layout: string
  beforeAll(async () => {
    layout = path.join(tmp, 'prepared-layout')
    const r = await build('--layers', `${appDir()}:/base`, '--output', layout)
    expect(r.code).toBe(0)
    prepared = path.join(tmp, 'prepared.tar')
    execFileSync('skopeo', ['copy', `oci:${layout}:latest`, `docker-archive:${prepared}:base:1`], {
      stdio: 'ignore'
    })
  })

  it('reads the image docker save writes, and layers onto it', async () => {
    const docker = standIn(prepared)
    const out = path.join(tmp, 'from-daemon')
    const r = await build(
      '--from',
      'docker-daemon:base:1',
      '--layers',
      `${appDir()}:/app`,
      '--output',
      out
    )
    expect(r.code).toBe(0)
    const calls = docker.calls()
    expect(calls).toHaveLength(1)
    const m = /^save --output (.*lading-docker-[^/]+\/image\.tar) base:1$/.exec(calls[0])
    expect(m).not.toBeNull()
    expect(fs.existsSync(path.dirname(m![1]))).toBe(false)
    const diffIds = async (source: string) =>
      (
        JSON.parse((await cli(['inspect', source, '--config'])).bytes.toString('utf8')) as {
          rootfs: { diff_ids: string[] }
        }
      ).rootfs.diff_ids
    const base = await diffIds(`oci:${layout}`)
    const built = await diffIds(`oci:${out}`)
    expect(built).toHaveLength(2)
    expect(built[0]).toBe(base[0])
  })

  it('fails clearly when there is no docker on PATH', async () => {
    process.env.PATH = fs.mkdtempSync(path.join(tmp, 'empty-'))
    const r = await build(
      '--from',
      'docker-daemon:base:1',
      '--layers',
      `${appDir()}:/app`,
      '--output',
      path.join(tmp, 'nd')
    )
    expect(r.code).not.toBe(0)
    expect(r.err).toMatch(
      /from "docker-daemon:base:1" needs Docker, and there is no docker command on PATH/
    )
  })
})
