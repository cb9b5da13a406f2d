/**
 * Build, reassemble and push through the front ends against a real registry (CNCF distribution on
 * 127.0.0.1), with a logging proxy in front of it to see which blobs moved.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as fsSync from 'node:fs'
import * as path from 'node:path'
import { execFileSync, spawnSync } from 'node:child_process'
import * as cryptoMod from 'node:crypto'
import { bundledCli, cli as runCli } from '../helpers/cli.js'
import { parseOutputs, runAction } from '../helpers/action.js'
import { describeWithTools, itWithTools } from '../helpers/tools.js'
import { useRegistry } from '../helpers/registries.js'
import { trackedTempDirs } from '../helpers/transports-fixtures.js'
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js'
import { remoteDigest } from '../helpers/skopeo.js'

function skopeoDigest(ref: string, creds?: string, arch?: string): string {
  const args = ['inspect', '--tls-verify=false', '--format', '{{.Digest}}']
  if (creds) args.push('--creds', creds)
  if (arch) args.push('--override-arch', arch)
  args.push(`docker://${ref}`)
  return execFileSync('skopeo', args, { encoding: 'utf8' }).trim()
}

/** What skopeo, an independent client, reads from the registry (the raw manifest or index). */
function inspectRaw(ref: string) {
  return JSON.parse(
    execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', ref], { encoding: 'utf8' })
  )
}

/** The config skopeo reads for one architecture of a reference. */
function inspectConfig(ref: string, arch: string) {
  return JSON.parse(
    execFileSync(
      'skopeo',
      ['inspect', '--config', '--tls-verify=false', '--override-arch', arch, ref],
      { encoding: 'utf8' }
    )
  )
}

describeWithTools(
  ['docker-registry', 'skopeo', 'htpasswd'],
  'the CLI and the action with a registry',
  () => {
    const tmpDirs = trackedTempDirs('lading-push-e2e-')
    let tmp: string
    const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(args, { HOME: tmp, ...env })
    const reg = useRegistry('none')
    let proxy: FaultProxy
    let app: string

    beforeAll(async () => {
      tmp = await tmpDirs()
      app = path.join(tmp, 'app')
      await fs.mkdir(app)
      await fs.writeFile(path.join(app, 'server.js'), 'console.log("hi")\n')
      // Enough bytes that a layer download would be unmistakable in the proxy log.
      await fs.writeFile(path.join(app, 'data.bin'), cryptoMod.randomBytes(512 * 1024))
      proxy = await startFaultProxy(reg.host)
    })
    afterAll(async () => {
      await proxy?.stop()
    })

    const blobMoves = (p: FaultProxy, since: number) =>
      p.requests
        .slice(since)
        .filter(
          r =>
            /\/blobs\//.test(r.path) &&
            (r.method === 'GET' ||
              r.method === 'POST' ||
              r.method === 'PUT' ||
              r.method === 'PATCH')
        )

    describe('pushing what was built', () => {
      it('pushes a scratch image to the tags, and skopeo reads back the same digest', async () => {
        const r = await cli([
          'build',
          '--layers',
          `${app}:/app`,
          '--push',
          '--tags',
          `${proxy.host}/e2e/app:1,${proxy.host}/e2e/app:latest`,
          '--output',
          path.join(tmp, 'l1')
        ])
        expect(r.err).not.toMatch(/^(error|lading:)/m)
        expect(r.code).toBe(0)
        expect(JSON.parse(r.out['image-refs'])).toEqual([
          `${proxy.host}/e2e/app:1@${r.out.digest}`,
          `${proxy.host}/e2e/app:latest@${r.out.digest}`
        ])
        expect(JSON.parse(r.out.metadata)['image.name']).toBe(
          `${proxy.host}/e2e/app:1,${proxy.host}/e2e/app:latest`
        )
        expect(skopeoDigest(`${reg.host}/e2e/app:1`)).toBe(r.out.digest)
        expect(await remoteDigest(reg, `${reg.host}/e2e/app:latest`)).toBe(r.out.digest)
      })

      it('with push false, builds and validates but pushes nothing', async () => {
        const before = proxy.requests.length
        const r = await cli([
          'build',
          '--layers',
          `${app}:/app`,
          '--tags',
          `${proxy.host}/e2e/nopush:1`,
          '--push',
          'false',
          '--output',
          path.join(tmp, 'l-nopush')
        ])
        expect(r.code).toBe(0)
        expect(r.out['image-refs']).toBeUndefined()
        expect(proxy.requests.length).toBe(before)
      })

      it('with tags and no push, builds and validates, pushes nothing and says so', async () => {
        const before = proxy.requests.length
        const r = await cli([
          'build',
          '--layers',
          `${app}:/app`,
          '--tags',
          `${proxy.host}/e2e/nopush:2`,
          '--output',
          path.join(tmp, 'l-nopush-default')
        ])
        expect(r.code).toBe(0)
        expect(r.out['image-refs']).toBeUndefined()
        expect(r.err).toContain(
          `the image was built and validated but not pushed to ${proxy.host}/e2e/nopush:2: push is false (the default); set push: true to push`
        )
        expect(proxy.requests.length).toBe(before)
      })

      it('an image that fails validation is never pushed', async () => {
        // A source layout whose manifest carries a malformed created annotation (an error).
        const bad = path.join(tmp, 'l-bad-src')
        const r0 = await cli([
          'build',
          '--layers',
          `${app}:/app`,
          '--annotations',
          'org.opencontainers.image.created=yesterday',
          '--fail-on',
          'never',
          '--output',
          bad
        ])
        expect(r0.code).toBe(0)
        const before = proxy.requests.length
        const r = await cli([
          'build',
          '--from',
          `oci:${bad}`,
          '--push',
          '--tags',
          `${proxy.host}/e2e/bad:1`,
          '--output',
          path.join(tmp, 'l-bad')
        ])
        expect(r.code).toBe(1)
        expect(r.err).toMatch(/failed validation/)
        expect(r.err).toMatch(/created/)
        expect(
          proxy.requests.slice(before).filter(x => x.method !== 'GET' && x.method !== 'HEAD')
        ).toEqual([])
        await expect(fs.access(path.join(tmp, 'l-bad'))).rejects.toThrow()
      })
    })

    describe('registry bases', () => {
      let baseDigest: string
      beforeAll(async () => {
        const base = path.join(tmp, 'base')
        await fs.mkdir(base)
        await fs.writeFile(path.join(base, 'os-release'), 'NAME=base\n')
        await fs.writeFile(path.join(base, 'big.bin'), cryptoMod.randomBytes(256 * 1024))
        const r = await cli([
          'build',
          '--platforms',
          'linux/amd64,linux/arm64',
          '--layers',
          `${base}:/etc`,
          '--env',
          'PATH=/usr/bin',
          '--push',
          '--tags',
          `${proxy.host}/base/os:1`,
          '--output',
          path.join(tmp, 'l-base')
        ])
        expect(r.code).toBe(0)
        baseDigest = r.out.digest
      })

      it('a multi-platform base plus one layer: its layers are mounted, never downloaded', async () => {
        const before = proxy.requests.length
        const r = await cli([
          'build',
          '--from',
          `${proxy.host}/base/os:1`,
          '--layers',
          `${app}:/app`,
          '--push',
          '--tags',
          `${proxy.host}/apps/web:1`,
          '--output',
          path.join(tmp, 'l-onbase')
        ])
        expect(r.err).not.toMatch(/^(error|lading:)/m)
        expect(r.code).toBe(0)
        expect(r.out.platforms).toBe('linux/amd64,linux/arm64')
        const seen = proxy.requests.slice(before)
        const baseIndex = inspectRaw(`docker://${reg.host}/base/os:1`)
        const baseManifest = inspectRaw(
          `docker://${reg.host}/base/os@${baseIndex.manifests[0].digest}`
        )
        const baseLayer = baseManifest.layers[0].digest
        // never downloaded
        expect(
          seen
            .filter(x => x.method === 'GET' && x.path.includes(baseLayer))
            .map(x => x.path + ' ' + x.status)
        ).toEqual([])
        // mounted
        expect(
          seen.some(
            x =>
              x.method === 'POST' &&
              decodeURIComponent(x.path).includes(`mount=${baseLayer}`) &&
              x.status === 201
          )
        ).toBe(true)
        // each platform: the base layers plus the same new layer
        const index = inspectRaw(`docker://${reg.host}/apps/web:1`)
        expect(index.manifests).toHaveLength(2)
        const newLayers = new Set<string>()
        for (const m of index.manifests) {
          const man = inspectRaw(`docker://${reg.host}/apps/web@${m.digest}`)
          expect(man.layers[0].digest).toBe(baseLayer)
          expect(man.layers).toHaveLength(2)
          newLayers.add(man.layers[1].digest)
          expect(man.annotations['org.opencontainers.image.base.name']).toBe(
            `${proxy.host}/base/os:1`
          )
        }
        expect(newLayers.size).toBe(1)
        const report = JSON.parse(await fs.readFile(r.out.report, 'utf8'))
        expect(
          report.findings.some((f: { rule: string }) => f.rule === 'blob-not-downloaded')
        ).toBe(true)
        expect(baseDigest).toMatch(/^sha256:/)
      })

      itWithTools(
        ['oci-image-tool'],
        'without push, the base layers are downloaded so the layout is complete',
        async () => {
          const out = path.join(tmp, 'l-complete')
          const r = await cli([
            'build',
            '--from',
            `${proxy.host}/base/os:1`,
            '--platforms',
            'linux/arm64',
            '--layers',
            `${app}:/app`,
            '--output',
            out
          ])
          expect(r.code).toBe(0)
          execFileSync(
            'oci-image-tool',
            ['validate', '--type', 'image', '--ref', 'name=latest', out],
            {
              stdio: 'pipe'
            }
          )
          const report = JSON.parse(await fs.readFile(r.out.report, 'utf8'))
          expect(report).toMatchObject({ valid: true, errors: 0, warnings: 0 })
        }
      )

      it('a layout written while pushing lacks the base layers: used as a source it says so, or pushes where they are', async () => {
        // Built onto the registry base and pushed: the base layers were mounted, never downloaded.
        const partial = path.join(tmp, 'l-partial')
        const made = await cli([
          'build',
          '--from',
          `${proxy.host}/base/os:1`,
          '--layers',
          `${app}:/app`,
          '--push',
          '--tags',
          `${proxy.host}/apps/partial:1`,
          '--output',
          partial
        ])
        expect(made.code).toBe(0)
        const r = await cli([
          'build',
          '--from',
          `oci:${partial}`,
          '--env',
          'X=1',
          '--output',
          path.join(tmp, 'l-from-partial')
        ])
        expect(r.code).toBe(1)
        expect(r.err).toMatch(
          /blob sha256:[0-9a-f]{64} .* is missing, so the image cannot be completed/
        )
        expect(r.err).not.toMatch(/internal error|\n\s+at /)
        // pushed back to the registry that holds the base layers, nothing is missing
        const again = await cli([
          'build',
          '--from',
          `oci:${partial}`,
          '--env',
          'X=1',
          '--push',
          '--tags',
          `${proxy.host}/apps/web:2`,
          '--output',
          path.join(tmp, 'l-from-partial-push')
        ])
        expect(again.err).not.toMatch(/^(error|lading:)/m)
        expect(again.code).toBe(0)
      })

      it('with an archive, base layers are downloaded for it and still mounted in the registry', async () => {
        const before = proxy.requests.length
        const archive = path.join(tmp, 'onbase.tar')
        const r = await cli([
          'build',
          '--from',
          `${proxy.host}/base/os:1`,
          '--env',
          'X=3',
          '--archive',
          archive,
          '--push',
          '--tags',
          `${proxy.host}/apps/arch:1`,
          '--output',
          path.join(tmp, 'l-onbase-arch')
        ])
        expect(r.err).not.toMatch(/^(error|lading:)/m)
        expect(r.code).toBe(0)
        const seen = proxy.requests.slice(before)
        expect(seen.some(x => x.method === 'GET' && /\/base\/os\/blobs\//.test(x.path))).toBe(true)
        expect(
          seen.some(
            x =>
              x.method === 'POST' &&
              decodeURIComponent(x.path).includes('from=base/os') &&
              x.status === 201
          )
        ).toBe(true)
        expect(
          seen.filter(
            x => x.method === 'PATCH' || (x.method === 'PUT' && x.path.includes('/blobs/uploads/'))
          ).length
        ).toBeLessThanOrEqual(2)
        // the archive is complete: it reads back as a source with nothing missing
        const back = await cli([
          'build',
          '--from',
          `oci-archive:${archive}`,
          '--output',
          path.join(tmp, 'l-arch-back')
        ])
        expect(back.code).toBe(0)
      })

      it('a digest that does not exist fails with a clear message', async () => {
        const missing = `${proxy.host}/base/os@sha256:${'0'.repeat(64)}`
        const r = await cli([
          'build',
          '--from',
          missing,
          '--layers',
          `${app}:/app`,
          '--output',
          path.join(tmp, 'l-missing')
        ])
        expect(r.code).toBe(1)
        expect(r.err).toContain('sha256:' + '0'.repeat(64))
        expect(r.err).toMatch(/not found|does not exist|unknown/i)
        expect(r.err).not.toMatch(/\n\s+at /)
        // the report says so too, so a gate reading it sees the failure
        const report = JSON.parse(await fs.readFile(r.out.report, 'utf8'))
        expect(report).toMatchObject({ valid: false, errors: 1 })
        expect(report.findings[0]).toMatchObject({ rule: 'source-unreadable', location: missing })
      })
    })

    describe('fan-out / fan-in', () => {
      it('push-by-digest per platform, then an index of exactly those digests with no blob moved', async () => {
        const digests: string[] = []
        for (const arch of ['amd64', 'arm64']) {
          const r = await cli([
            'build',
            '--platforms',
            `linux/${arch}`,
            '--layers',
            `${app}:/app`,
            '--env',
            `ARCH=${arch}`,
            '--push',
            '--tags',
            `${proxy.host}/fan/app`,
            '--push-by-digest',
            '--output',
            path.join(tmp, `l-fan-${arch}`)
          ])
          expect(r.code).toBe(0)
          expect(JSON.parse(r.out['image-refs'])).toEqual([`${proxy.host}/fan/app@${r.out.digest}`])
          digests.push(r.out.digest)
        }
        // no tag was pushed
        const tags = await (await fetch(`http://${reg.host}/v2/fan/app/tags/list`)).json()
        expect(tags.tags ?? []).toEqual([])

        const before = proxy.requests.length
        const r = await cli([
          'build',
          '--from',
          `${proxy.host}/fan/app@${digests[0]}`,
          '--from',
          `${proxy.host}/fan/app@${digests[1]}`,
          '--push',
          '--tags',
          `${proxy.host}/fan/app:1.0`,
          '--annotations',
          'index:org.opencontainers.image.version=1.0',
          '--output',
          path.join(tmp, 'l-fanin')
        ])
        expect(r.err).not.toMatch(/^(error|lading:)/m)
        expect(r.code).toBe(0)
        const moved = blobMoves(proxy, before)
        // Configs (a few hundred bytes) are read to learn the platform and validate; no layer moves.
        const configs = moved.filter(x => x.method === 'GET')
        expect(configs.length).toBeLessThanOrEqual(2)
        expect(moved.filter(x => x.method !== 'GET')).toEqual([])
        const index = inspectRaw(`docker://${reg.host}/fan/app:1.0`)
        expect(index.manifests.map((m: { digest: string }) => m.digest)).toEqual(digests)
        expect(
          index.manifests.map(
            (m: { platform: { architecture: string } }) => m.platform.architecture
          )
        ).toEqual(['amd64', 'arm64'])
        expect(index.annotations['org.opencontainers.image.version']).toBe('1.0')
        for (const arch of ['amd64', 'arm64']) {
          const cfg = inspectConfig(`docker://${reg.host}/fan/app:1.0`, arch)
          expect(cfg.config.Env).toContain(`ARCH=${arch}`)
        }
        const report = JSON.parse(await fs.readFile(r.out.report, 'utf8'))
        expect(
          report.findings.filter((f: { rule: string }) => f.rule === 'blob-not-downloaded').length
        ).toBeGreaterThan(0)
      })

      it('the same works through archives passed as artifacts', async () => {
        const archives: string[] = []
        for (const arch of ['amd64', 'arm64']) {
          const archive = path.join(tmp, `artifact-${arch}.tar`)
          const r = await cli([
            'build',
            '--platforms',
            `linux/${arch}`,
            '--layers',
            `${app}:/app`,
            '--archive',
            archive,
            '--output',
            path.join(tmp, `l-art-${arch}`)
          ])
          expect(r.code).toBe(0)
          archives.push(archive)
        }
        const r = await cli([
          'build',
          ...archives.flatMap(a => ['--from', `oci-archive:${a}`]),
          '--push',
          '--tags',
          `${proxy.host}/art/app:1`,
          '--output',
          path.join(tmp, 'l-art')
        ])
        expect(r.code).toBe(0)
        expect(r.out.platforms).toBe('linux/amd64,linux/arm64')
        expect(await remoteDigest(reg, `${reg.host}/art/app:1`)).toBe(r.out.digest)
      })
    })

    describe('the bundled action with credentials', () => {
      const secure = useRegistry('htpasswd')

      it('pushes with username/password and never shows the secret or its base64 form', async () => {
        const r = runAction(
          tmp,
          'gh',
          {
            layers: `${app}:/app`,
            tags: `${secure.host}/secret/app:1`,
            push: 'true',
            username: secure.username,
            password: secure.password
          },
          { HOME: tmp }
        )
        const { outFile, summary } = r
        expect(r.stderr).toBe('')
        expect(r.status).toBe(0)
        expect(r.stdout).toContain(`::add-mask::${secure.password}`)
        const b64 = Buffer.from(`${secure.username}:${secure.password}`).toString('base64')
        const everything = [
          r.stdout
            .replaceAll(`::add-mask::${secure.password}`, '')
            .replaceAll(`::add-mask::${b64}`, ''),
          fsSync.readFileSync(outFile, 'utf8'),
          fsSync.readFileSync(summary, 'utf8')
        ].join('\n')
        expect(everything).not.toContain(secure.password)
        expect(everything).not.toContain(b64)
        const digest = parseOutputs(fsSync.readFileSync(outFile, 'utf8')).digest
        expect(digest).toMatch(/^sha256:[a-f0-9]{64}$/)
        expect(
          skopeoDigest(`${secure.host}/secret/app:1`, `${secure.username}:${secure.password}`)
        ).toBe(digest)
      })

      it('the CLI prints no secret, not even as a GitHub mask command', async () => {
        const r = spawnSync(
          process.execPath,
          [
            bundledCli,
            'build',
            '--layers',
            `${app}:/app`,
            '--push',
            '--tags',
            `${secure.host}/secret/cli:1`,
            '--username',
            secure.username,
            '--password',
            secure.password,
            '--output',
            path.join(tmp, 'l-cli-secret')
          ],
          { env: { PATH: process.env.PATH ?? '', HOME: tmp }, encoding: 'utf8', timeout: 120000 }
        )
        expect(r.status).toBe(0)
        const all = r.stdout + r.stderr
        expect(all).not.toContain(secure.password)
        expect(all).not.toContain(
          Buffer.from(`${secure.username}:${secure.password}`).toString('base64')
        )
        expect(all).not.toContain('::add-mask::')
      })

      it('wrong credentials: a clear error naming the registry and the credential source, no secret', async () => {
        const r = await cli([
          'build',
          '--layers',
          `${app}:/app`,
          '--push',
          '--tags',
          `${secure.host}/secret/app:2`,
          '--username',
          secure.username,
          '--password',
          'wrong-password-123',
          '--output',
          path.join(tmp, 'l-wrong')
        ])
        expect(r.code).toBe(1)
        expect(r.err).toContain(secure.host)
        expect(r.err).toMatch(/username|password|credential/i)
        expect(r.err).not.toContain('wrong-password-123')
        expect(r.err).not.toMatch(/\n\s+at /)
        // built, validated and written before the push failed: the outputs say so
        expect(r.err).toMatch(/was written to .* but not pushed/)
        expect(r.out.digest).toMatch(/^sha256:/)
        await fs.access(path.join(r.out.layout, 'index.json'))
        expect(r.out.valid).toBe('true')
      })
    })

    describe('a source index taken whole', () => {
      it('keeps its digest and its attestation manifest when nothing changes; drops it when layers are added', async () => {
        const { Layout, writeLayoutIndex } = await import('../../src/transports/layout.js')
        // A buildkit-style layout: one platform manifest plus an attestation manifest.
        const built = path.join(tmp, 'l-att-src')
        const r0 = await cli(['build', '--layers', `${app}:/app`, '--output', built])
        expect(r0.code).toBe(0)
        const store = new Layout(built)
        await store.init()
        const statement = await store.writeBuffer(
          Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v0.1', subject: [] }))
        )
        // as buildkit writes them: an image config for unknown/unknown whose diff_ids are the statements
        const attConfig = await store.writeJSON(
          {
            architecture: 'unknown',
            os: 'unknown',
            config: {},
            rootfs: { type: 'layers', diff_ids: [statement.digest] }
          },
          'application/vnd.oci.image.config.v1+json'
        )
        const att = await store.writeJSON(
          {
            schemaVersion: 2,
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            config: {
              mediaType: attConfig.mediaType,
              digest: attConfig.digest,
              size: attConfig.size
            },
            layers: [
              {
                mediaType: 'application/vnd.in-toto+json',
                ...statement,
                annotations: { 'in-toto.io/predicate-type': 'https://slsa.dev/provenance/v0.2' }
              }
            ]
          },
          'application/vnd.oci.image.manifest.v1+json'
        )
        const platformManifest = {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: r0.out.digest,
          size: (await fs.stat(store.path(r0.out.digest))).size,
          platform: { architecture: 'amd64', os: 'linux' }
        }
        const index = await store.writeJSON(
          {
            schemaVersion: 2,
            mediaType: 'application/vnd.oci.image.index.v1+json',
            manifests: [
              platformManifest,
              {
                mediaType: att.mediaType,
                digest: att.digest,
                size: att.size,
                platform: { architecture: 'unknown', os: 'unknown' },
                annotations: {
                  'vnd.docker.reference.type': 'attestation-manifest',
                  'vnd.docker.reference.digest': r0.out.digest
                }
              }
            ]
          },
          'application/vnd.oci.image.index.v1+json'
        )
        await store.finish()
        await writeLayoutIndex(built, [
          {
            mediaType: index.mediaType,
            digest: index.digest,
            size: index.size,
            annotations: { 'org.opencontainers.image.ref.name': 'latest' }
          }
        ])

        const r = await cli([
          'build',
          '--from',
          `oci:${built}`,
          '--push',
          '--tags',
          `${proxy.host}/att/app:1`,
          '--output',
          path.join(tmp, 'l-att')
        ])
        expect(r.err).not.toMatch(/^(error|lading:)/m)
        expect(r.code).toBe(0)
        expect(r.out.digest).toBe(index.digest)
        expect(await remoteDigest(reg, `${reg.host}/att/app:1`)).toBe(index.digest)
        const head = await fetch(`http://${reg.host}/v2/att/app/manifests/${att.digest}`, {
          method: 'HEAD',
          headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' }
        })
        expect(head.status).toBe(200)

        const layered = await cli([
          'build',
          '--from',
          `oci:${built}`,
          '--layers',
          `${app}:/extra`,
          '--output',
          path.join(tmp, 'l-att-layered')
        ])
        expect(layered.code).toBe(0)
        expect(layered.out['media-type']).toBe('application/vnd.oci.image.manifest.v1+json')
        // The attestation describes the manifest before the new layer: it would describe another image.
        expect(layered.err).toMatch(
          /dropped attestation sha256:\S+ .* which was rebuilt as sha256:/
        )
      })
    })
  }
)
