/**
 * `lading inspect` of images in a real registry, through the CLI's main() and a logging proxy:
 * what is requested (one manifest per level, one config, no layer), --raw and --config byte for
 * byte as skopeo prints them, credentials, and the errors.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import * as path from 'node:path'
import { promisify } from 'node:util'
import { cli } from '../helpers/cli.js'
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js'
import { writeInspectLayout, type InspectFixture } from '../helpers/inspect-image.js'
import { startRegistry, type TestRegistry } from '../helpers/registry-server.js'
import { sha256, trackedTempDirs } from '../helpers/transports-fixtures.js'
import { describeWithTools } from '../helpers/tools.js'
import { openLayout } from '../../src/transports/layout-image.js'
import { pushImage } from '../../src/registry/index.js'
import { parseReference } from '../../src/oci/reference.js'

const tmp = trackedTempDirs('lading-inspect-registry-')

/** skopeo's answer, as bytes. */
async function skopeo(args: string[]): Promise<Buffer> {
  const { stdout } = await promisify(execFile)('skopeo', args, {
    encoding: 'buffer',
    maxBuffer: 1 << 26
  })
  return stdout
}

describeWithTools(['docker-registry', 'skopeo', 'htpasswd'], 'lading inspect, a registry', () => {
  let plain: TestRegistry | undefined
  let basic: TestRegistry | undefined
  let proxy: FaultProxy | undefined
  const savedDockerConfig = process.env.DOCKER_CONFIG

  /** Pushes a fixture, byte for byte, as REPO:1 of `reg`. */
  async function push(fixture: InspectFixture, reg: TestRegistry, repo: string): Promise<void> {
    const reader = await openLayout(fixture.dir, fixture.ref)
    const auth = reg.auth === 'none' ? {} : { username: reg.username, password: reg.password }
    await pushImage(
      {
        targets: [parseReference(`${reg.host}/${repo}:1`)],
        root: fixture.root,
        // Made children first, the top document last: the push order.
        manifests: [...fixture.manifests.values()],
        blobs: fixture.blobs.map(descriptor => ({ descriptor, reader }))
      },
      auth
    )
  }

  let base: string
  let single: InspectFixture
  let multi: InspectFixture

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
    // No docker config of the machine running the tests may answer for these registries.
    process.env.DOCKER_CONFIG = path.join(base, 'no-docker-config')
    ;[plain, basic] = await Promise.all([startRegistry('none'), startRegistry('htpasswd')])
    proxy = await startFaultProxy(plain.host)
    await push(multi, plain, 'inspect/multi')
    await push(single, plain, 'inspect/single')
    await push(single, basic, 'inspect/private')
  })

  afterAll(async () => {
    if (savedDockerConfig === undefined) delete process.env.DOCKER_CONFIG
    else process.env.DOCKER_CONFIG = savedDockerConfig
    await proxy?.stop()
    await Promise.all([plain?.stop(), basic?.stop()])
  })

  /** What the registry was asked for while `run` ran: GETs of manifests and of blobs. */
  async function asked(
    run: () => Promise<unknown>
  ): Promise<{ manifests: string[]; blobs: string[] }> {
    const before = proxy!.requests.length
    await run()
    const seen = proxy!.requests.slice(before)
    const of = (kind: string) =>
      seen
        .filter(r => r.path.includes(`/${kind}/`))
        .map(r => `${r.method} ${r.path.split(`/${kind}/`)[1]}`)
    return { manifests: of('manifests'), blobs: of('blobs') }
  }

  it('reads one manifest per level and one config, and no layer', async () => {
    const ref = `${proxy!.host}/inspect/multi:1`
    let r = await cli(['inspect', ref])
    const index = await asked(async () => (r = await cli(['inspect', ref])))
    expect([r.err, r.code]).toEqual(['', 0])
    expect(r.stdout).toMatch(new RegExp(`^digest +${multi.root.digest}$`, 'm'))
    expect(r.stdout).toMatch(/^ {2}unknown\/unknown +attestation /m)
    expect(index).toEqual({ manifests: ['GET 1'], blobs: [] })
    const arm = multi.images[1]
    const image = await asked(
      async () => (r = await cli(['inspect', `docker://${ref}`, '--platform', 'linux/arm64']))
    )
    expect([r.err, r.code]).toEqual(['', 0])
    expect(r.stdout).toMatch(/^platform +linux\/arm64$/m)
    expect(image).toEqual({
      manifests: ['GET 1', `GET ${arm.manifest.digest}`],
      blobs: [`GET ${sha256(arm.configBytes)}`]
    })
    const one = await asked(
      async () => (r = await cli(['inspect', `${proxy!.host}/inspect/single:1`]))
    )
    expect(r.stdout).toMatch(/^layers \(2, /m)
    expect(one).toEqual({
      manifests: ['GET 1'],
      blobs: [`GET ${sha256(single.images[0].configBytes)}`]
    })
  })

  it('prints --raw and --config byte for byte as skopeo does', async () => {
    const ref = `${plain!.host}/inspect/multi:1`
    const byDigest = `${plain!.host}/inspect/multi@${multi.root.digest}`
    const insecure = '--tls-verify=false'
    const pairs: [string[], string[]][] = [
      [
        [ref, '--raw'],
        ['inspect', insecure, '--raw', `docker://${ref}`]
      ],
      [
        [`docker://${byDigest}`, '--raw'],
        ['inspect', insecure, '--raw', `docker://${byDigest}`]
      ],
      [
        [ref, '--config', '--platform', 'linux/arm64'],
        [
          '--override-os',
          'linux',
          '--override-arch',
          'arm64',
          'inspect',
          insecure,
          '--config',
          '--raw',
          `docker://${ref}`
        ]
      ],
      [
        [`${plain!.host}/inspect/single:1`, '--config'],
        ['inspect', insecure, '--config', '--raw', `docker://${plain!.host}/inspect/single:1`]
      ]
    ]
    for (const [ours, theirs] of pairs) {
      const r = await cli(['inspect', ...ours])
      expect([r.err, r.code]).toEqual(['', 0])
      expect(r.bytes.equals(await skopeo(theirs))).toBe(true)
    }
  })

  it('takes credentials as validate does: options, or LADING_USERNAME and LADING_PASSWORD', async () => {
    const ref = `${basic!.host}/inspect/private:1`
    const anonymous = await cli(['inspect', ref])
    expect(anonymous.code).toBe(1)
    expect(anonymous.err).toMatch(/^lading: GET manifest .* 401 .*authentication required/)
    const byOption = await cli([
      'inspect',
      ref,
      '--username',
      basic!.username,
      '--password',
      basic!.password
    ])
    expect([byOption.err, byOption.code]).toEqual(['', 0])
    const byEnv = await cli(['inspect', ref, '--format', 'json'], {
      LADING_USERNAME: basic!.username,
      LADING_PASSWORD: basic!.password
    })
    expect(byEnv.code).toBe(0)
    expect(JSON.parse(byEnv.stdout).digest).toBe(single.root.digest)
  })

  it('says what is wrong with a missing image or a bad reference, with exit status 1', async () => {
    const missing = await cli(['inspect', `${plain!.host}/inspect/nothing:1`])
    expect(missing.code).toBe(1)
    expect(missing.err).toMatch(/inspect\/nothing/)
    const bad = await cli(['inspect', `${plain!.host}/Inspect/UPPER:1`])
    expect(bad.code).toBe(1)
    expect(bad.err).toMatch(/^lading: /)
    for (const r of [missing, bad]) expect(r.err).not.toMatch(/\n\s+at /)
  })
})
