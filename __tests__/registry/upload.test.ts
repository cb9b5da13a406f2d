import { describe, expect, it } from '@jest/globals'
import * as path from 'node:path'
import { Readable } from 'node:stream'
import { parseReference } from '../../src/oci/reference.js'
import { pushImage, type PushBlob } from '../../src/registry/index.js'
import { makeImage, requestFor } from '../helpers/push-image.js'
import { fast, since, useRegistries } from '../helpers/registries.js'
import { remoteDigest, skopeo } from '../helpers/skopeo.js'
import { describeWithTools } from '../helpers/tools.js'

describeWithTools(['docker-registry', 'skopeo', 'htpasswd'], 'uploads to distribution', () => {
  const registries = useRegistries()
  describe('retries', () => {
    it('survives a 503 on a blob upload', async () => {
      const img = await makeImage(path.join(registries.tmp, 'r503'))
      registries.proxy.rules.splice(0, registries.proxy.rules.length, {
        method: 'PUT',
        path: /\/blobs\/uploads\//,
        times: 1,
        action: { status: 503, body: '{"errors":[{"code":"UNAVAILABLE"}]}' }
      })
      const n = registries.proxy.requests.length
      const res = await pushImage(
        requestFor(img, [parseReference(`${registries.proxy.host}/r/a503:1`)]),
        {
          retry: fast,
          log: registries.log
        }
      )
      expect(res.uploaded).toBe(img.blobs.length)
      const seen = since(registries.proxy, n)
      expect(seen.filter(r => r.fault === '503')).toHaveLength(1)
      expect(await remoteDigest(registries.plain, `${registries.plain.host}/r/a503:1`)).toBe(
        img.root.digest
      )
    })

    it('survives connections reset before a request and in the middle of a chunk', async () => {
      const img = await makeImage(path.join(registries.tmp, 'reset'), { layerSizes: [300_000] })
      registries.proxy.rules.splice(
        0,
        registries.proxy.rules.length,
        { method: 'HEAD', path: /\/blobs\//, times: 1, action: { reset: 'before' } },
        {
          method: 'PATCH',
          path: /\/blobs\/uploads\//,
          skip: 1,
          times: 1,
          action: { reset: 'midbody', afterBytes: 10_000 }
        }
      )
      const n = registries.proxy.requests.length
      const res = await pushImage(
        requestFor(img, [parseReference(`${registries.proxy.host}/r/reset:1`)]),
        {
          retry: fast,
          chunkSize: 64 * 1024,
          concurrency: 1,
          log: registries.log
        }
      )
      const seen = since(registries.proxy, n)
      expect(seen.filter(r => r.fault === 'reset')).toHaveLength(1)
      expect(seen.filter(r => r.fault === 'reset-midbody')).toHaveLength(1)
      expect(res.uploaded).toBe(img.blobs.length)
      expect(await remoteDigest(registries.plain, `${registries.plain.host}/r/reset:1`)).toBe(
        img.root.digest
      )
      await skopeo([
        'copy',
        '--src-tls-verify=false',
        `docker://${registries.plain.host}/r/reset:1`,
        `oci:${path.join(registries.tmp, 'reset-copy')}:x`
      ])
    })

    it('by default sends a blob of several MiB in one streamed PUT, and sends it again after a reset', async () => {
      const img = await makeImage(path.join(registries.tmp, 'whole'), {
        layerSizes: [6 * 1024 * 1024]
      })
      registries.proxy.rules.splice(0, registries.proxy.rules.length, {
        method: 'PUT',
        path: /\/blobs\/uploads\//,
        skip: 1,
        times: 1,
        action: { reset: 'midbody', afterBytes: 1024 * 1024 }
      })
      const n = registries.proxy.requests.length
      const res = await pushImage(
        requestFor(img, [parseReference(`${registries.proxy.host}/r/whole:1`)]),
        {
          retry: fast,
          concurrency: 1,
          log: registries.log
        }
      )
      const seen = since(registries.proxy, n)
      expect(seen.filter(r => r.method === 'PATCH')).toEqual([])
      // The config's PUT, the layer's PUT cut short, and the layer's PUT again in a new upload.
      const uploads = seen.filter(r => r.method === 'PUT' && r.path.includes('/blobs/uploads/'))
      expect(uploads.map(r => r.fault ?? r.status)).toEqual([201, 'reset-midbody', 201])
      expect(res.uploaded).toBe(img.blobs.length)
      expect(await remoteDigest(registries.plain, `${registries.plain.host}/r/whole:1`)).toBe(
        img.root.digest
      )
    })

    it('waits for a source that says it ended only after the registry took its last byte', async () => {
      const img = await makeImage(path.join(registries.tmp, 'late-end'), { layerSizes: [300_000] })
      // Every byte at once, then the end 300 ms later: the registry answers in between.
      const late: PushBlob['reader'] = {
        name: 'late',
        has: d => img.store.has(d),
        read: d => img.store.read(d),
        open: async d => {
          const bytes = await img.store.read(d)
          let sent = false
          return new Readable({
            read() {
              if (sent) return
              sent = true
              this.push(bytes)
              setTimeout(() => this.push(null), 300)
            }
          })
        }
      }
      const req = requestFor(img, [parseReference(`${registries.plain.host}/r/late-end:1`)])
      req.blobs = req.blobs.map(b => ({ ...b, reader: late }))
      const res = await pushImage(req, { retry: fast, log: registries.log })
      expect(res.uploaded).toBe(img.blobs.length)
      expect(await remoteDigest(registries.plain, `${registries.plain.host}/r/late-end:1`)).toBe(
        img.root.digest
      )
    })
  })

  describe('uploads', () => {
    it('resumes from byte 0 when the registry answers Range 0-0 (nothing stored)', async () => {
      const img = await makeImage(path.join(registries.tmp, 'range00'), { layerSizes: [200_000] })
      registries.proxy.rules.splice(0, registries.proxy.rules.length, {
        method: 'PATCH',
        path: /\/blobs\/uploads\//,
        times: 1,
        action: { reset: 'before' }
      })
      const n = registries.proxy.requests.length
      try {
        await pushImage(requestFor(img, [parseReference(`${registries.proxy.host}/r/range00:1`)]), {
          retry: fast,
          chunkSize: 64 * 1024,
          concurrency: 1,
          log: registries.log
        })
      } finally {
        registries.proxy.rules.length = 0
      }
      const seen = registries.proxy.requests.slice(n)
      const patches = seen.filter(r => r.method === 'PATCH')
      expect(patches[0].fault).toBe('reset')
      expect(patches[1].contentRange).toBe('0-65535')
      expect(patches.every(r => !r.status || r.status === 202)).toBe(true)
      // No upload started over: one POST per blob.
      expect(seen.filter(r => r.method === 'POST')).toHaveLength(img.blobs.length)
      expect(await remoteDigest(registries.plain, `${registries.plain.host}/r/range00:1`)).toBe(
        img.root.digest
      )
    })
  })
})
