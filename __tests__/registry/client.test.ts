import { describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { parseReference } from '../../src/oci/reference.js'
import { isLoopback, RegistryClient, sameOrigin } from '../../src/registry/client.js'
import { pushImage, RegistryError } from '../../src/registry/index.js'
import { RegistrySource } from '../../src/registry/source.js'
import { LadingError } from '../../src/util/errors.js'
import { openFake, useFakeRegistries } from '../helpers/fake-image.js'
import { makeImage, requestFor } from '../helpers/push-image.js'
import { fast, since, useRegistries } from '../helpers/registries.js'
import { remoteDigest } from '../helpers/skopeo.js'
import { describeWithTools } from '../helpers/tools.js'

const fake = useFakeRegistries()

describe('hosts', () => {
  it('takes insecure-registries entries written as URLs', () => {
    for (const entry of ['http://vm:5081', 'http://vm:5081/', 'VM:5081', ' vm:5081/v2/ '])
      expect(new RegistryClient('vm:5081', { insecureRegistries: [entry] }).base.href).toBe(
        'http://vm:5081/v2/'
      )
    expect(new RegistryClient('vm:5081', { insecureRegistries: ['vm:5082'] }).base.protocol).toBe(
      'https:'
    )
  })

  it('keeps credentials to the same scheme, host and port', () => {
    const base = new URL('https://reg.example/v2/')
    expect(sameOrigin(base, new URL('https://reg.example/v2/x/blobs/uploads/1'))).toBe(true)
    expect(sameOrigin(base, new URL('http://reg.example/v2/x'))).toBe(false)
    expect(sameOrigin(base, new URL('https://reg.example:8443/v2/x'))).toBe(false)
    expect(sameOrigin(base, new URL('https://storage.example/x'))).toBe(false)
  })

  it('treats loopback names as local', () => {
    expect(isLoopback('127.0.0.1:5000')).toBe(true)
    expect(isLoopback('localhost')).toBe(true)
    expect(isLoopback('[::1]:5000')).toBe(true)
    expect(isLoopback('ghcr.io')).toBe(false)
  })
})

describe('URLs in messages', () => {
  it('a redirect loop names its URL without userinfo or query', async () => {
    let loop = ''
    const f = await fake((_req, res) => {
      res.writeHead(302, { Location: loop })
      res.end()
    })
    loop = `http://luser:hunter2@${f.host}/loop?X-Amz-Signature=s3cr3t&X-Amz-Credential=AKIA1`
    const err = await openFake(f).catch(e => e)
    expect(err).toBeInstanceOf(LadingError)
    expect(err.message).toContain(`more than 5 redirects, the last to http://${f.host}/loop`)
    for (const secret of ['luser', 'hunter2', 'X-Amz', 's3cr3t', 'AKIA1'])
      expect(err.message).not.toContain(secret)
  })
})

describeWithTools(['docker-registry', 'skopeo', 'htpasswd'], 'a client of distribution', () => {
  const registries = useRegistries()
  describe('retries', () => {
    it('waits as long as Retry-After asks after a 429 on a manifest PUT', async () => {
      const img = await makeImage(path.join(registries.tmp, 'r429'))
      registries.proxy.rules.splice(0, registries.proxy.rules.length, {
        method: 'PUT',
        path: /\/manifests\//,
        times: 1,
        action: {
          status: 429,
          headers: { 'Retry-After': '1' },
          body: '{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}'
        }
      })
      const n = registries.proxy.requests.length
      await pushImage(requestFor(img, [parseReference(`${registries.proxy.host}/r/a429:1`)]), {
        retry: fast,
        log: registries.log
      })
      const puts = since(registries.proxy, n).filter(
        r => r.method === 'PUT' && r.path.includes('/manifests/')
      )
      // The root by digest (refused once, then accepted), then its tag.
      expect(puts.map(p => p.status)).toEqual([429, 201, 201])
      expect(puts[1].at - puts[0].at).toBeGreaterThanOrEqual(950)
      expect(await remoteDigest(registries.plain, `${registries.plain.host}/r/a429:1`)).toBe(
        img.root.digest
      )
    })

    it('gives up after bounded attempts, naming the request and the cause', async () => {
      const img = await makeImage(path.join(registries.tmp, 'down'))
      registries.proxy.rules.splice(0, registries.proxy.rules.length, {
        method: 'PUT',
        path: /\/manifests\//,
        times: 1000,
        action: {
          status: 503,
          body: '{"errors":[{"code":"UNAVAILABLE","message":"down for maintenance"}]}'
        }
      })
      const n = registries.proxy.requests.length
      const err = await pushImage(
        requestFor(img, [parseReference(`${registries.proxy.host}/r/down:1`)]),
        {
          retry: fast,
          log: registries.log
        }
      ).catch(e => e)
      registries.proxy.rules.length = 0
      expect(err).toBeInstanceOf(RegistryError)
      // Manifests go by digest first; the tag only once every target holds the image.
      expect(err.message).toContain(
        `PUT manifest ${registries.proxy.host}/r/down@${img.root.digest}`
      )
      expect(err.message).toContain('down for maintenance')
      expect(err.message).toContain('4 attempts')
      const puts = since(registries.proxy, n).filter(
        r => r.method === 'PUT' && r.path.includes('/manifests/')
      )
      expect(puts).toHaveLength(4)
    })
  })

  describe('credentials', () => {
    it('never sends credentials to another host on a redirect', async () => {
      const img = await makeImage(path.join(registries.tmp, 'redir'))
      await pushImage(requestFor(img, [parseReference(`${registries.basic.host}/redir/a:1`)]), {
        username: registries.basic.username,
        password: registries.basic.password
      })
      registries.basicProxy.rules.splice(0, registries.basicProxy.rules.length, {
        method: 'GET',
        path: /\/blobs\/sha256:/,
        times: 1000,
        action: { redirect: 'storage' }
      })
      try {
        const src = await RegistrySource.open(
          parseReference(`${registries.basicProxy.host}/redir/a:1`),
          {
            username: registries.basic.username,
            password: registries.basic.password
          }
        )
        const manifest = JSON.parse((await src.read(src.root)).toString())
        await src.read(manifest.config)
        const layer = manifest.layers[0]
        const chunks: Buffer[] = []
        for await (const c of await src.open(layer)) chunks.push(c as Buffer)
        expect(Buffer.concat(chunks).equals(fs.readFileSync(img.store.path(layer.digest)))).toBe(
          true
        )
      } finally {
        registries.basicProxy.rules.length = 0
      }
      const redirected = registries.basicProxy.requests.filter(r => r.fault === 'redirect')
      expect(redirected.length).toBe(2)
      expect(redirected.every(r => r.authorization?.startsWith('Basic '))).toBe(true)
      expect(registries.basicProxy.storageRequests.length).toBe(2)
      expect(registries.basicProxy.storageRequests.every(r => r.authorization === undefined)).toBe(
        true
      )
    })
  })

  describe('redirects', () => {
    it("never answers a storage host's challenge with the registry's credentials", async () => {
      const img = await makeImage(path.join(registries.tmp, 'challenge'))
      await pushImage(
        requestFor(img, [parseReference(`${registries.basic.host}/ch/a:1`)]),
        registries.creds()
      )
      const src = await RegistrySource.open(
        parseReference(`${registries.basicProxy.host}/ch/a:1`),
        {
          ...registries.creds(),
          retry: fast
        }
      )
      const manifest = JSON.parse((await src.read(src.root)).toString())
      const storage = registries.basicProxy.storageHost
      registries.basicProxy.rules.splice(0, registries.basicProxy.rules.length, {
        method: 'GET',
        path: /\/blobs\/sha256:/,
        times: 1000,
        action: { redirect: 'storage' }
      })
      registries.basicProxy.storageRules.splice(0, registries.basicProxy.storageRules.length, {
        path: /\/blobs\//,
        times: 1000,
        action: {
          status: 401,
          headers: { 'WWW-Authenticate': `Bearer realm="http://${storage}/token",service="s"` }
        }
      })
      const n = registries.basicProxy.storageRequests.length
      let err
      try {
        err = await src.read(manifest.config).catch(e => e)
      } finally {
        registries.basicProxy.rules.length = 0
        registries.basicProxy.storageRules.length = 0
      }
      expect(err).toBeInstanceOf(Error)
      expect(err.message).toContain(`the storage host ${storage} refused`)
      expect(err.message).toContain('does not send registry credentials there')
      const seen = registries.basicProxy.storageRequests.slice(n)
      expect(seen.some(r => r.path.startsWith('/token'))).toBe(false)
      expect(seen.every(r => r.authorization === undefined)).toBe(true)
      // The registry's own Basic challenge still holds: the next read is not sent to that realm.
      const config = await src.read(manifest.config)
      expect(config.length).toBe(manifest.config.size)
    })
  })

  describe('credentials stay with the registry', () => {
    it('an upload session on another origin gets none, whole or in chunks', async () => {
      for (const [name, chunkSize] of [
        ['whole', undefined],
        ['chunked', 256 * 1024]
      ] as const) {
        const img = await makeImage(path.join(registries.tmp, `upload-${name}`), {
          layerSizes: [700_000]
        })
        registries.basicProxy.rules.splice(0, registries.basicProxy.rules.length, {
          method: 'POST',
          path: /\/blobs\/uploads\/$/,
          times: 1000,
          action: { locationTo: 'storage' }
        })
        const n = registries.basicProxy.storageRequests.length
        const ref = `${registries.basicProxy.host}/up/${name}:1`
        try {
          const res = await pushImage(requestFor(img, [parseReference(ref)]), {
            ...registries.creds(),
            chunkSize
          })
          expect(res.uploaded).toBe(img.blobs.length)
        } finally {
          registries.basicProxy.rules.length = 0
        }
        const sent = registries.basicProxy.storageRequests.slice(n)
        const methods = new Set(sent.map(r => r.method))
        expect(methods.has('PUT')).toBe(true)
        if (chunkSize) expect(methods.has('PATCH')).toBe(true)
        expect(sent.every(r => r.authorization === undefined)).toBe(true)
        const pushed = `${registries.basic.host}/up/${name}:1`
        expect(await remoteDigest(registries.basic, pushed)).toBe(img.root.digest)
      }
    })

    it('a manifest redirected to another origin is read without them', async () => {
      const img = await makeImage(path.join(registries.tmp, 'manifest-redirect'))
      await pushImage(
        requestFor(img, [parseReference(`${registries.basic.host}/mr/a:1`)]),
        registries.creds()
      )
      registries.basicProxy.rules.splice(0, registries.basicProxy.rules.length, {
        method: 'GET',
        path: /\/manifests\//,
        times: 1000,
        action: { redirect: 'storage' }
      })
      const n = registries.basicProxy.storageRequests.length
      let root: Buffer
      try {
        const src = await RegistrySource.open(
          parseReference(`${registries.basicProxy.host}/mr/a:1`),
          registries.creds()
        )
        root = await src.read(src.root)
      } finally {
        registries.basicProxy.rules.length = 0
      }
      expect(root).toEqual(img.manifests.get(img.root.digest)?.bytes)
      const sent = registries.basicProxy.storageRequests.slice(n)
      expect(sent.some(r => r.path.includes('/manifests/'))).toBe(true)
      expect(sent.every(r => r.authorization === undefined)).toBe(true)
    })
  })
})
