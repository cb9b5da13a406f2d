import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { parseReference } from '../../src/oci/reference.js'
import {
  MountLocations,
  pushImage,
  RegistryError,
  type PushOptions
} from '../../src/registry/index.js'
import { RegistrySource } from '../../src/registry/source.js'
import { MemoryRelief } from '../../src/util/memory.js'
import { makeImage, requestFor } from '../helpers/push-image.js'
import { fast, since, useRegistries } from '../helpers/registries.js'
import { startRegistry, type RegistryAuth, type TestRegistry } from '../helpers/registry-server.js'
import { credsArgs, remoteDigest, skopeo } from '../helpers/skopeo.js'
import { describeWithTools } from '../helpers/tools.js'
import { throttledProgress } from '../../src/util/progress.js'

describeWithTools(
  ['docker-registry', 'skopeo', 'htpasswd', 'openssl'],
  'pushes to distribution',
  () => {
    const registries = useRegistries({ token: true })
    describe('registry bases', () => {
      /** Puts a base image in a registry with skopeo, so Lading's own push memory plays no part. */
      async function seedBase(reg: TestRegistry, name: string) {
        const img = await makeImage(path.join(registries.tmp, `base-${name}-${reg.auth}`), {
          layerSizes: [5000, 80_000]
        })
        await skopeo([
          'copy',
          '--dest-tls-verify=false',
          ...credsArgs(reg, '--dest-creds'),
          `oci:${path.join(registries.tmp, `base-${name}-${reg.auth}`)}:latest`,
          `docker://${reg.host}/${name}:1`
        ])
        return img
      }

      it('mounts the layers of a base in the same registry, never downloading them', async () => {
        const base = await seedBase(registries.plain, 'bases/mounted')
        const src = await RegistrySource.open(
          parseReference(`${registries.proxy.host}/bases/mounted:1`),
          {
            log: registries.log
          }
        )
        expect(src.root.digest).toBe(base.root.digest)
        const manifest = JSON.parse((await src.read(src.root)).toString())
        const app = await makeImage(path.join(registries.tmp, 'app-mounted'), {
          extraLayers: manifest.layers,
          extraReader: src
        })
        const n = registries.proxy.requests.length
        const res = await pushImage(
          requestFor(app, [parseReference(`${registries.proxy.host}/apps/mounted:1`)]),
          {
            log: registries.log
          }
        )
        expect(res.mounted).toBe(manifest.layers.length)
        expect(res.uploaded).toBe(app.blobs.length - manifest.layers.length)
        const seen = since(registries.proxy, n)
        for (const l of manifest.layers) {
          expect(seen.some(r => r.method === 'GET' && r.path.includes(l.digest))).toBe(false)
          expect(
            seen.some(
              r =>
                r.method === 'POST' &&
                r.path.includes(`mount=${encodeURIComponent(l.digest)}`) &&
                r.path.includes('from=bases%2Fmounted') &&
                r.status === 201
            )
          ).toBe(true)
        }
        // The registry's own access log agrees: no layer was read from the base repository.
        for (const l of manifest.layers)
          expect(registries.plain.log()).not.toMatch(
            new RegExp(`"GET /v2/bases/mounted/blobs/${l.digest}`)
          )
        expect(
          await remoteDigest(registries.plain, `${registries.plain.host}/apps/mounted:1`)
        ).toBe(app.root.digest)
      })

      it('asks the token server for pull on the mount source with push on the target', async () => {
        const base = await seedBase(registries.token, 'bases/tok')
        const auth = {
          username: registries.token.username,
          password: registries.token.password,
          log: registries.log
        }
        const src = await RegistrySource.open(
          parseReference(`${registries.token.host}/bases/tok:1`),
          auth
        )
        const manifest = JSON.parse((await src.read(src.root)).toString())
        expect(manifest.layers).toEqual(
          base.layers.filter(l =>
            manifest.layers.some((m: { digest: string }) => m.digest === l.digest)
          )
        )
        const app = await makeImage(path.join(registries.tmp, 'app-tok'), {
          extraLayers: manifest.layers,
          extraReader: src
        })
        const n = registries.token.tokenServer!.requests.length
        const res = await pushImage(
          requestFor(app, [parseReference(`${registries.token.host}/apps/tok:1`)]),
          auth
        )
        expect(res.mounted).toBe(manifest.layers.length)
        const asked = registries.token
          .tokenServer!.requests.slice(n)
          .map(r => r.scopes.sort().join(' '))
        expect(asked).toContain('repository:apps/tok:pull,push repository:bases/tok:pull')
        expect(await remoteDigest(registries.token, `${registries.token.host}/apps/tok:1`)).toBe(
          app.root.digest
        )
      })

      it('streams the layers of a base in another registry, verified, to the target', async () => {
        const base = await seedBase(registries.plain, 'bases/streamed')
        const src = await RegistrySource.open(
          parseReference(`${registries.plain.host}/bases/streamed:1`),
          {
            log: registries.log
          }
        )
        const manifest = JSON.parse((await src.read(src.root)).toString())
        const app = await makeImage(path.join(registries.tmp, 'app-streamed'), {
          extraLayers: manifest.layers,
          extraReader: src
        })
        const opts: PushOptions = {
          username: registries.token.username,
          password: registries.token.password,
          log: registries.log,
          chunkSize: 32 * 1024
        }
        const res = await pushImage(
          requestFor(app, [parseReference(`${registries.token.host}/apps/streamed:1`)]),
          opts
        )
        expect(res.mounted).toBe(0)
        expect(res.uploaded).toBe(app.blobs.length)
        expect(
          await remoteDigest(registries.token, `${registries.token.host}/apps/streamed:1`)
        ).toBe(app.root.digest)
        await skopeo([
          'copy',
          '--src-tls-verify=false',
          ...credsArgs(registries.token, '--src-creds'),
          `docker://${registries.token.host}/apps/streamed:1`,
          `oci:${path.join(registries.tmp, 'streamed-copy')}:x`
        ])
        void base
      })
    })

    describe('mounts', () => {
      async function seedBase(name: string) {
        const dir = path.join(registries.tmp, `base-${name.replace(/\//g, '-')}`)
        const img = await makeImage(dir, { layerSizes: [5000, 60_000] })
        await skopeo([
          'copy',
          '--dest-tls-verify=false',
          `oci:${dir}:latest`,
          `docker://${registries.plain.host}/${name}:1`
        ])
        return img
      }

      it('uploads instead when a mount is refused, and later requests still go through', async () => {
        await seedBase('bases/refused')
        const src = await RegistrySource.open(
          parseReference(`${registries.proxy.host}/bases/refused:1`),
          {
            log: registries.log
          }
        )
        const manifest = JSON.parse((await src.read(src.root)).toString())
        const app = await makeImage(path.join(registries.tmp, 'app-refused'), {
          extraLayers: manifest.layers,
          extraReader: src
        })
        registries.proxy.rules.splice(0, registries.proxy.rules.length, {
          method: 'POST',
          path: /mount=/,
          times: 1000,
          action: { status: 403, body: '{"errors":[{"code":"DENIED","message":"no pull"}]}' }
        })
        const n = registries.proxy.requests.length
        let res
        try {
          res = await pushImage(
            requestFor(app, [parseReference(`${registries.proxy.host}/apps/refused:1`)]),
            {
              retry: fast,
              log: registries.log
            }
          )
        } finally {
          registries.proxy.rules.length = 0
        }
        expect(res.mounted).toBe(0)
        expect(res.uploaded).toBe(app.blobs.length)
        expect(
          registries.proxy.requests.slice(n).filter(r => r.fault === '403').length
        ).toBeGreaterThan(0)
        expect(
          await remoteDigest(registries.plain, `${registries.plain.host}/apps/refused:1`)
        ).toBe(app.root.digest)
      })

      it('mounts from the origin given with a blob while reading it elsewhere', async () => {
        const base = await seedBase('bases/origin')
        const origin = { registry: registries.proxy.host, repository: 'bases/origin' }
        const req = requestFor(base, [parseReference(`${registries.proxy.host}/apps/origin:1`)])
        req.blobs = req.blobs.map(b => ({ ...b, origin }))
        const n = registries.proxy.requests.length
        const res = await pushImage(req, { log: registries.log })
        expect(res.mounted).toBe(base.blobs.length)
        expect(res.uploaded).toBe(0)
        const seen = registries.proxy.requests.slice(n)
        expect(
          seen.some(r => r.method === 'PATCH' || (r.method === 'PUT' && r.path.includes('/blobs/')))
        ).toBe(false)
        expect(await remoteDigest(registries.plain, `${registries.plain.host}/apps/origin:1`)).toBe(
          base.root.digest
        )
      })
    })

    describe('several targets', () => {
      it('tags no target before every target holds the image', async () => {
        const img = await makeImage(path.join(registries.tmp, 'multi'), {
          platforms: ['linux/amd64', 'linux/arm64']
        })
        const targets = ['multi/a:1', 'multi/b:1'].map(t =>
          parseReference(`${registries.proxy.host}/${t}`)
        )
        registries.proxy.rules.splice(0, registries.proxy.rules.length, {
          method: 'PUT',
          path: /^\/v2\/multi\/b\/manifests\/sha256:/,
          times: 1000,
          action: { status: 400, body: '{"errors":[{"code":"MANIFEST_INVALID","message":"no"}]}' }
        })
        const opts: PushOptions = { retry: fast, log: registries.log }
        let err
        try {
          err = await pushImage(requestFor(img, targets), opts).catch(e => e)
        } finally {
          registries.proxy.rules.length = 0
        }
        expect(err).toBeInstanceOf(RegistryError)
        const head = await fetch(`http://${registries.plain.host}/v2/multi/a/manifests/1`, {
          method: 'HEAD'
        })
        expect(head.status).toBe(404)

        const n = registries.proxy.requests.length
        const res = await pushImage(requestFor(img, targets), opts)
        expect(res.refs).toEqual(
          targets.map(t => `${t.registry}/${t.repository}:1@${img.root.digest}`)
        )
        const puts = registries.proxy.requests
          .slice(n)
          .map((r, i) => ({ ...r, i }))
          .filter(r => r.method === 'PUT' && r.path.includes('/manifests/'))
        const lastByDigest = Math.max(...puts.filter(r => r.path.includes('sha256:')).map(r => r.i))
        const firstTag = Math.min(
          ...puts.filter(r => r.path.endsWith('/manifests/1')).map(r => r.i)
        )
        expect(lastByDigest).toBeLessThan(firstTag)
        for (const t of ['multi/a:1', 'multi/b:1'])
          expect(await remoteDigest(registries.plain, `${registries.plain.host}/${t}`)).toBe(
            img.root.digest
          )
      })
    })

    const to = (ref: string) => [parseReference(`${registries.plain.host}/${ref}`)]

    describe('MountLocations', () => {
      it('lets pushes that share one mount from each other', async () => {
        const img = await makeImage(path.join(registries.tmp, 'shared'))
        const mounts = new MountLocations()
        const first = await pushImage(requestFor(img, to('shared/one:1')), { mounts })
        expect(first.uploaded).toBe(img.blobs.length)
        const second = await pushImage(requestFor(img, to('shared/two:1')), { mounts })
        expect(second.mounted).toBe(img.blobs.length)
        expect(second.uploaded).toBe(0)
      })

      it('keeps pushes with their own apart: nothing is learnt from another push', async () => {
        const img = await makeImage(path.join(registries.tmp, 'apart'))
        const first = await pushImage(requestFor(img, to('apart/one:1')), {
          mounts: new MountLocations()
        })
        expect(first.uploaded).toBe(img.blobs.length)
        for (const opts of [{ mounts: new MountLocations() }, {}]) {
          const repo = `apart/${opts.mounts ? 'own' : 'none'}:1`
          const res = await pushImage(requestFor(img, to(repo)), opts)
          expect(res.mounted).toBe(0)
          expect(res.uploaded).toBe(img.blobs.length)
        }
      })
    })

    describe('memory relief', () => {
      class CountingRelief extends MemoryRelief {
        hashed = 0
        override moved(bytes: number): void {
          this.hashed += bytes
          super.moved(bytes)
        }
      }

      it('counts every byte uploaded, whole or in chunks', async () => {
        for (const chunkSize of [undefined, 256 * 1024]) {
          const img = await makeImage(path.join(registries.tmp, `relief-${chunkSize ?? 'whole'}`), {
            layerSizes: [700_000]
          })
          const relief = new CountingRelief()
          const res = await pushImage(requestFor(img, to(`relief/${chunkSize ?? 'whole'}:1`)), {
            relief,
            chunkSize
          })
          expect(res.bytesUploaded).toBeGreaterThan(700_000)
          expect(relief.hashed).toBe(res.bytesUploaded)
        }
      })
    })

    describe.each<RegistryAuth>(['none', 'htpasswd', 'token'])(
      'push to distribution (%s auth)',
      auth => {
        let reg: TestRegistry
        let tmp: string
        let opts: PushOptions

        beforeAll(async () => {
          reg = await startRegistry(auth)
          tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lading-push-'))
          opts = {
            // Shared by the pushes of this registry, so a later push mounts what an earlier one sent.
            mounts: new MountLocations(),
            username: auth === 'none' ? undefined : reg.username,
            password: auth === 'none' ? undefined : reg.password,
            log: m => {
              if (process.env.LADING_DEBUG) process.stderr.write(m + '\n')
            }
          }
        })
        afterAll(async () => {
          await reg?.stop()
          fs.rmSync(tmp, { recursive: true, force: true })
        })

        it('pushes a multi-platform image that skopeo reads back with the same digest', async () => {
          const img = await makeImage(path.join(tmp, 'multi'), {
            platforms: ['linux/amd64', 'linux/arm64']
          })
          const targets = [
            parseReference(`${reg.host}/app/multi:1`),
            parseReference(`${reg.host}/app/multi:latest`)
          ]
          const res = await pushImage(requestFor(img, targets), opts)
          expect(res.uploaded).toBe(img.blobs.length)
          expect(res.mounted + res.skipped).toBe(0)
          expect(res.refs).toEqual([
            `${reg.host}/app/multi:1@${img.root.digest}`,
            `${reg.host}/app/multi:latest@${img.root.digest}`
          ])
          expect(await remoteDigest(reg, `${reg.host}/app/multi:1`)).toBe(img.root.digest)
          expect(await remoteDigest(reg, `${reg.host}/app/multi:latest`)).toBe(img.root.digest)
          // skopeo verifies every blob it copies against its digest.
          const out = path.join(tmp, 'copied')
          await skopeo([
            'copy',
            '--all',
            '--src-tls-verify=false',
            ...credsArgs(reg, '--src-creds'),
            `docker://${reg.host}/app/multi:1`,
            `oci:${out}:x`
          ])
          const idx = JSON.parse(fs.readFileSync(path.join(out, 'index.json'), 'utf8'))
          expect(idx.manifests[0].digest).toBe(img.root.digest)

          // The same image again: nothing is uploaded.
          const again = await pushImage(requestFor(img, targets), opts)
          expect(again.uploaded).toBe(0)
          expect(again.skipped).toBe(img.blobs.length)
          expect(again.bytesUploaded).toBe(0)

          // To another repository of the same registry: every blob is mounted.
          const other = await pushImage(
            requestFor(img, [parseReference(`${reg.host}/other/multi:1`)]),
            opts
          )
          expect(other.mounted).toBe(img.blobs.length)
          expect(other.uploaded).toBe(0)
          expect(await remoteDigest(reg, `${reg.host}/other/multi:1`)).toBe(img.root.digest)
        })

        it('uploads large blobs in chunks and pushes by digest without tags', async () => {
          const img = await makeImage(path.join(tmp, 'chunked'), { layerSizes: [700_000] })
          // A clock a second further on at each look, and no quiet time: every read is reported.
          let t = 0
          const progress: string[] = []
          const res = await pushImage(
            requestFor(img, [parseReference(`${reg.host}/app/chunked`)], true),
            {
              ...opts,
              chunkSize: 256 * 1024,
              progress: throttledProgress(l => progress.push(l), {
                now: () => (t += 1000),
                quietMs: 0,
                everyMs: 0
              })
            }
          )
          const big = img.layers.find(l => l.size > 700_000)!
          const told = progress.filter(l => l.startsWith(`upload of ${big.digest} to `))
          expect(told.length).toBeGreaterThan(0)
          expect(told[told.length - 1]).toMatch(
            /: 683\.7 KiB of 683\.7 KiB \(100%\), [\d.]+ (B|KiB)\/s$/
          )
          expect(res.refs).toEqual([`${reg.host}/app/chunked@${img.root.digest}`])
          expect(await remoteDigest(reg, `${reg.host}/app/chunked@${img.root.digest}`)).toBe(
            img.root.digest
          )
          // Distribution answers 404 for the tag list of a repository without tags.
          let tags: string[] = []
          try {
            const listed = await skopeo([
              'list-tags',
              '--tls-verify=false',
              ...credsArgs(reg, '--creds'),
              `docker://${reg.host}/app/chunked`
            ])
            tags = JSON.parse(listed.toString()).Tags ?? []
          } catch (err) {
            expect(String(err)).toContain('404')
          }
          expect(tags).toEqual([])
          await skopeo([
            'copy',
            '--src-tls-verify=false',
            ...credsArgs(reg, '--src-creds'),
            `docker://${reg.host}/app/chunked@${img.root.digest}`,
            `oci:${path.join(tmp, 'chunked-copy')}:x`
          ])
        })

        it('never logs a secret', async () => {
          const logs: string[] = []
          const img = await makeImage(path.join(tmp, 'logged'))
          await pushImage(requestFor(img, [parseReference(`${reg.host}/app/logged:1`)]), {
            ...opts,
            log: m => void logs.push(m)
          })
          const all = logs.join('\n')
          expect(all.length).toBeGreaterThan(0)
          expect(all).not.toContain(reg.password)
          expect(all).not.toContain(
            Buffer.from(`${reg.username}:${reg.password}`).toString('base64')
          )
        })
      }
    )
  }
)
