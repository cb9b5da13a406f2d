/**
 * `lading inspect` end to end through the CLI's main(): layouts made here (one image, and an index
 * with an attestation and an artifact), an oci-archive and a docker-archive as skopeo writes it;
 * --raw and --config checked byte for byte against skopeo. The registry is in
 * inspect-registry.test.ts.
 */
import { beforeAll, describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { cli } from '../helpers/cli.js'
import { LONG_VALUE, writeInspectLayout, type InspectFixture } from '../helpers/inspect-image.js'
import { exec, sha256, trackedTempDirs } from '../helpers/transports-fixtures.js'
import { itWithTools } from '../helpers/tools.js'

const tmp = trackedTempDirs('lading-inspect-')
let base: string
let single: InspectFixture
let multi: InspectFixture

/** skopeo's answer, as bytes. */
async function skopeo(args: string[]): Promise<Buffer> {
  const { stdout } = await exec('skopeo', args, { encoding: 'buffer', maxBuffer: 1 << 26 })
  return stdout
}

/** The keys of every Inspection, as docs/cli.md documents them. */
const TOP_KEYS = [
  'source',
  'digest',
  'mediaType',
  'size',
  'kind',
  'artifactType',
  'annotations',
  'manifests',
  'image'
]
const IMAGE_KEYS = [
  'digest',
  'mediaType',
  'size',
  'kind',
  'artifactType',
  'platform',
  'config',
  'created',
  'author',
  'user',
  'entrypoint',
  'cmd',
  'workingDir',
  'env',
  'exposedPorts',
  'volumes',
  'stopSignal',
  'labels',
  'annotations',
  'layers'
]

beforeAll(async () => {
  base = await tmp()
  single = await writeInspectLayout(path.join(base, 'single'), {
    platforms: ['linux/amd64'],
    ref: 'v1'
  })
  multi = await writeInspectLayout(path.join(base, 'multi'), {
    platforms: ['linux/amd64', 'linux/arm64'],
    extras: true
  })
})

describe('lading inspect, a layout', () => {
  it('shows one image: its digest, run facts, and layers with their diff_ids', async () => {
    const bare = await cli(['inspect', single.dir])
    const named = await cli(['inspect', `oci:${single.dir}:v1`])
    expect([bare.err, bare.code, named.code]).toEqual(['', 0, 0])
    expect(named.stdout).toBe(bare.stdout.replace(`oci:${single.dir}`, `oci:${single.dir}:v1`))
    const text = bare.stdout
    const img = single.images[0]
    expect(text).toMatch(new RegExp(`^digest +${single.root.digest}$`, 'm'))
    expect(text).toMatch(/^media type +application\/vnd\.oci\.image\.manifest\.v1\+json$/m)
    expect(text).toMatch(/^kind +image$/m)
    expect(text).toMatch(/^platform +linux\/amd64$/m)
    expect(text).toMatch(/^created +2024-05-06T07:08:09Z$/m)
    expect(text).toMatch(/^user +1000:1000$/m)
    expect(text).toMatch(/^entrypoint +\["\/app\/run"\]$/m)
    expect(text).toMatch(/^cmd +\["--serve","all"\]$/m)
    expect(text).toMatch(/^workdir +\/app$/m)
    expect(text).toMatch(/^env +PATH=\/usr\/bin:\/bin$/m)
    expect(text).toMatch(/^ +LONG=v+…$/m)
    expect(text).not.toContain(LONG_VALUE)
    expect(text).toMatch(/^exposed ports +53\/udp, 8080\/tcp$/m)
    expect(text).toMatch(/^ +multiline=one\\ntwo$/m)
    expect(text).toMatch(
      /^annotations +org\.opencontainers\.image\.source=https:\/\/example\.com\/demo$/m
    )
    expect(text).toMatch(/^layers \(2, \d+ B compressed\):$/m)
    for (const [i, l] of img.layers.entries())
      expect(text).toMatch(
        new RegExp(
          `^  ${i} +${l.digest.slice(0, 19)}… +${l.size} B +application/vnd\\.oci\\.image\\.layer\\.v1\\.tar\\+gzip +${img.diffIds[i].slice(0, 19)}…$`,
          'm'
        )
      )
  })

  it('lists the entries of an index, and guesses no platform', async () => {
    const r = await cli(['inspect', `oci:${multi.dir}`])
    expect([r.err, r.code]).toEqual(['', 0])
    expect(r.stdout).toMatch(new RegExp(`^digest +${multi.root.digest}$`, 'm'))
    expect(r.stdout).toMatch(/^kind +index$/m)
    const [amd, arm] = multi.images.map(i => i.manifest.digest)
    expect(r.stdout).toMatch(new RegExp(`^  linux/amd64 +image +\\d+ B +${amd}$`, 'm'))
    expect(r.stdout).toMatch(new RegExp(`^  linux/arm64 +image +\\d+ B +${arm}$`, 'm'))
    expect(r.stdout).toMatch(
      new RegExp(
        `^  unknown/unknown +attestation +\\d+ B +sha256:\\w+ \\(of ${amd.slice(0, 19)}…\\)$`,
        'm'
      )
    )
    expect(r.stdout).toMatch(/^ {2}- +artifact +\d+ B +sha256:\w+$/m)
    expect(r.stdout).not.toMatch(/^(platform|layers|env)/m)
  })

  it('shows the image --platform selects, and names the platforms there when it is absent', async () => {
    const r = await cli(['inspect', multi.dir, '--platform', 'linux/arm64'])
    expect([r.err, r.code]).toEqual(['', 0])
    expect(r.stdout).toMatch(new RegExp(`^digest +${multi.root.digest}$`, 'm'))
    expect(r.stdout).toMatch(new RegExp(`^digest +${multi.images[1].manifest.digest}$`, 'm'))
    expect(r.stdout).toMatch(/^platform +linux\/arm64$/m)
    const absent = await cli(['inspect', multi.dir, '--platform', 'linux/s390x'])
    expect(absent.code).toBe(1)
    expect(absent.err).toBe(
      `lading: no image for linux/s390x in oci:${multi.dir}; it has linux/amd64, linux/arm64\n`
    )
  })

  it('prints one JSON object with the documented keys', async () => {
    const index = JSON.parse((await cli(['inspect', multi.dir, '--format', 'json'])).stdout)
    expect(Object.keys(index)).toEqual(TOP_KEYS)
    expect(index.image).toBeNull()
    expect(index.manifests.map((m: { kind: string }) => m.kind)).toEqual([
      'image',
      'image',
      'attestation',
      'artifact'
    ])
    expect(index.manifests[3].artifactType).toBe('application/spdx+json')
    const r = await cli(['inspect', multi.dir, '--platform', 'linux/amd64', '--format=json'])
    const one = JSON.parse(r.stdout)
    expect(Object.keys(one.image)).toEqual(IMAGE_KEYS)
    const img = multi.images[0]
    expect(one.image).toMatchObject({
      digest: img.manifest.digest,
      platform: 'linux/amd64',
      env: ['PATH=/usr/bin:/bin', `LONG=${LONG_VALUE}`],
      exposedPorts: ['53/udp', '8080/tcp'],
      labels: { 'org.opencontainers.image.title': 'demo', multiline: 'one\ntwo' },
      config: { digest: sha256(img.configBytes), size: img.configBytes.length },
      layers: img.layers.map((l, i) => ({ ...l, diffId: img.diffIds[i] }))
    })
  })

  itWithTools(
    ['skopeo', 'tar'],
    'prints --raw and --config byte for byte as skopeo does',
    async () => {
      const pairs: [string[], string[]][] = [
        [
          [single.dir, '--raw'],
          ['inspect', '--raw', `oci:${single.dir}:v1`]
        ],
        [
          [single.dir, '--config'],
          ['inspect', '--config', '--raw', `oci:${single.dir}:v1`]
        ],
        [
          [multi.dir, '--raw'],
          ['inspect', '--raw', `oci:${multi.dir}:latest`]
        ],
        [
          [multi.dir, '--config', '--platform', 'linux/arm64'],
          [
            '--override-os',
            'linux',
            '--override-arch',
            'arm64',
            'inspect',
            '--config',
            '--raw',
            `oci:${multi.dir}:latest`
          ]
        ]
      ]
      for (const [ours, theirs] of pairs) {
        const r = await cli(['inspect', ...ours])
        expect([r.err, r.code, r.stdout]).toEqual(['', 0, ''])
        expect(r.bytes.equals(await skopeo(theirs))).toBe(true)
      }
      expect(single.rootBytes.equals((await cli(['inspect', single.dir, '--raw'])).bytes)).toBe(
        true
      )
      // With --platform, --raw prints the manifest of the image selected.
      const arm = await cli(['inspect', multi.dir, '--raw', '--platform', 'linux/arm64'])
      expect(arm.bytes.equals(multi.images[1].manifestBytes)).toBe(true)
    }
  )

  it('says what is wrong, with exit status 1: a missing layout, a corrupt document, --config of an index', async () => {
    const missing = await cli(['inspect', `oci:${base}/nope`])
    expect(missing.code).toBe(1)
    expect(missing.err).toMatch(/the directory .*nope does not exist/)
    const corrupt = path.join(base, 'corrupt')
    await fs.cp(single.dir, corrupt, { recursive: true })
    const configFile = path.join(
      corrupt,
      'blobs',
      'sha256',
      sha256(single.images[0].configBytes).slice(7)
    )
    await fs.writeFile(
      configFile,
      single.images[0].configBytes.toString().replace('1000:1000', '0:0000000')
    )
    for (const args of [[corrupt], [corrupt, '--config']]) {
      const r = await cli(['inspect', ...args])
      expect(r.code).toBe(1)
      expect(r.err).toMatch(/^lading: blob sha256:\w+ in oci:.*corrupt is corrupt: /)
      expect(r.bytes.length).toBe(0)
    }
    const index = await cli(['inspect', multi.dir, '--config'])
    expect(index.code).toBe(1)
    expect(index.err).toBe(
      `lading: oci:${multi.dir} is an index (it has linux/amd64, linux/arm64); --config needs --platform to choose one image\n`
    )
    for (const r of [missing, index]) expect(r.err).not.toMatch(/\n\s+at /)
  })

  it('is a usage error (exit status 2) when called wrongly', async () => {
    const cases = [
      ['inspect'],
      ['inspect', single.dir, multi.dir],
      ['inspect', single.dir, '--raw', '--config'],
      ['inspect', single.dir, '--raw', '--format', 'json'],
      ['inspect', single.dir, '--format', 'yaml'],
      ['inspect', single.dir, '--platform', 'linux'],
      ['inspect', single.dir, '--platforms', 'linux/amd64'],
      ['inspect', single.dir, '--raw=yes'],
      ['inspect', single.dir, '--fail-on', 'error'],
      ['validate', single.dir, '--raw'],
      ['build', '--platform', 'linux/amd64']
    ]
    for (const args of cases) {
      const r = await cli(args)
      expect([args, r.code]).toEqual([args, 2])
      expect(r.err).toMatch(/^lading: /)
    }
  })
})

describe('lading inspect, archives', () => {
  itWithTools(['skopeo', 'tar'], 'reads an oci-archive as skopeo does', async () => {
    const archive = path.join(base, 'multi.tar')
    await exec('tar', ['-cf', archive, '-C', multi.dir, '.'])
    const text = await cli(['inspect', `oci-archive:${archive}`])
    expect([text.err, text.code]).toEqual(['', 0])
    expect(text.stdout).toMatch(new RegExp(`^digest +${multi.root.digest}$`, 'm'))
    expect(text.stdout).toMatch(/^ {2}linux\/arm64 +image /m)
    const raw = await cli(['inspect', `oci-archive:${archive}`, '--raw'])
    expect(raw.bytes.equals(await skopeo(['inspect', '--raw', `oci-archive:${archive}`]))).toBe(
      true
    )
    const config = await cli([
      'inspect',
      `oci-archive:${archive}:latest`,
      '--config',
      '--platform',
      'linux/amd64'
    ])
    const theirs = await skopeo([
      '--override-os',
      'linux',
      '--override-arch',
      'amd64',
      'inspect',
      '--config',
      '--raw',
      `oci-archive:${archive}`
    ])
    expect(config.bytes.equals(theirs)).toBe(true)
  })

  itWithTools(
    ['skopeo', 'tar'],
    'reads a docker save tarball, its manifest and config byte for byte as skopeo does',
    async () => {
      const archive = path.join(base, 'saved.tar')
      await exec('skopeo', [
        'copy',
        `oci:${single.dir}:v1`,
        `docker-archive:${archive}:example/app:1`
      ])
      for (const source of [
        `docker-archive:${archive}`,
        `docker-archive:${archive}:example/app:1`
      ]) {
        const text = await cli(['inspect', source])
        expect([text.err, text.code]).toEqual(['', 0])
        expect(text.stdout).toMatch(/^platform +linux\/amd64$/m)
        expect(text.stdout).toMatch(/^user +1000:1000$/m)
        for (const d of single.images[0].diffIds)
          expect(text.stdout).toMatch(new RegExp(` ${d.slice(0, 19)}…$`, 'm'))
      }
      const config = await cli(['inspect', `docker-archive:${archive}`, '--config'])
      const theirs = await skopeo(['inspect', '--config', '--raw', `docker-archive:${archive}`])
      expect(config.bytes.equals(theirs)).toBe(true)
      // A docker save tarball stores no manifest: the one it implies, as skopeo derives it, byte
      // for byte, with its digest the one shown.
      const raw = await cli(['inspect', `docker-archive:${archive}`, '--raw'])
      const theirsRaw = await skopeo(['inspect', '--raw', `docker-archive:${archive}`])
      expect(raw.bytes.equals(theirsRaw)).toBe(true)
      const json = JSON.parse(
        (await cli(['inspect', `docker-archive:${archive}`, '--format', 'json'])).stdout
      )
      expect(json.digest).toBe(sha256(raw.bytes))
      expect(JSON.parse(raw.bytes.toString()).config.digest).toBe(sha256(theirs))
    }
  )
})
