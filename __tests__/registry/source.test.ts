import { describe, expect, it } from '@jest/globals'
import * as path from 'node:path'
import { parseReference } from '../../src/oci/reference.js'
import type { Descriptor } from '../../src/oci/types.js'
import { pushImage } from '../../src/registry/index.js'
import { RegistrySource } from '../../src/registry/source.js'
import {
  config,
  configBytes,
  manifestWith,
  openFake,
  serving,
  useFakeRegistries
} from '../helpers/fake-image.js'
import { makeImage, requestFor } from '../helpers/push-image.js'
import { fast, useRegistries } from '../helpers/registries.js'
import { describeWithTools } from '../helpers/tools.js'

const fake = useFakeRegistries()

describe('documents are bounded', () => {
  it('fetches each document once, however many readers ask at once', async () => {
    const f = await fake(
      serving(manifestWith(config), (req, res) => {
        if (req.method === 'HEAD') return void res.writeHead(200).end()
        res.writeHead(200, { 'Content-Length': configBytes.length })
        res.end(configBytes)
      })
    )
    const src = await openFake(f)
    const asked = async (d: Descriptor) => Buffer.concat(await (await src.open(d)).toArray())
    const got = await Promise.all([src.read(config), asked(config), src.read(config)])
    for (const g of got) expect(g.equals(configBytes)).toBe(true)
    expect(await src.has(config)).toBe(true)
    expect((await src.read(src.root)).equals(manifestWith(config))).toBe(true)
    expect(f.seen.filter(r => r.url.includes(config.digest))).toHaveLength(1)
    expect(f.seen.filter(r => r.url.includes('/manifests/'))).toHaveLength(1)
  })
})

describeWithTools(['docker-registry', 'skopeo', 'htpasswd'], 'sources in distribution', () => {
  const registries = useRegistries()
  describe('registry sources', () => {
    it('a config once read is still a blob: has() answers yes, without asking for a manifest', async () => {
      const img = await makeImage(path.join(registries.tmp, 'has-config'))
      await pushImage(requestFor(img, [parseReference(`${registries.plain.host}/hc/a:1`)]), {})
      const src = await RegistrySource.open(parseReference(`${registries.proxy.host}/hc/a:1`), {
        retry: fast
      })
      const manifest = JSON.parse((await src.read(src.root)).toString())
      await src.read(manifest.config)
      const before = registries.proxy.requests.length
      expect(await src.has(manifest.config)).toBe(true)
      expect(await src.has(manifest.layers[0])).toBe(true)
      const asked = registries.proxy.requests.slice(before)
      expect(asked.filter(r => r.path.includes('/manifests/'))).toEqual([])
      expect(asked.filter(r => r.path.includes(manifest.config.digest))).toEqual([])
    })
  })

  describe('registry sources', () => {
    it('fetch each manifest and config once, whoever reads them', async () => {
      const img = await makeImage(path.join(registries.tmp, 'once'))
      await pushImage(requestFor(img, [parseReference(`${registries.plain.host}/once/a:1`)]), {})
      const n = registries.proxy.requests.length
      const src = await RegistrySource.open(parseReference(`${registries.proxy.host}/once/a:1`), {
        retry: fast
      })
      const manifest = JSON.parse((await src.read(src.root)).toString()) as { config: Descriptor }
      const viaOpen = async () => Buffer.concat(await (await src.open(manifest.config)).toArray())
      const [a, b, c] = await Promise.all([
        src.read(manifest.config),
        viaOpen(),
        src.read(manifest.config)
      ])
      expect(b.equals(a) && c.equals(a)).toBe(true)
      expect(a.length).toBe(manifest.config.size)
      await src.open(src.root)
      const asked = registries.proxy.requests.slice(n)
      expect(asked.filter(r => r.path.includes(manifest.config.digest))).toHaveLength(1)
      expect(asked.filter(r => r.path.includes('/manifests/'))).toHaveLength(1)
    })
  })
})
