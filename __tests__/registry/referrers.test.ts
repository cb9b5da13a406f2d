/**
 * The fallback tag under concurrent writers, against a real registry (distribution 2.8, which
 * has no referrers API), and a referrers API whose pages are not what they should be (a fake).
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { MediaType } from '../../src/oci/mediatypes.js'
import type { Descriptor } from '../../src/oci/types.js'
import {
  FALLBACK_SETTLE_MS,
  MAX_FALLBACK_ATTEMPTS,
  fallbackTag,
  listReferrers,
  pushReferrer,
  type ReferrerPush
} from '../../src/registry/referrers.js'
import { RegistryClient, getManifest, repositoryScope } from '../../src/registry/index.js'
import type { BlobTarget } from '../../src/registry/index.js'
import { LadingError } from '../../src/util/errors.js'
import { quick, useFakeRegistries } from '../helpers/fake-image.js'
import { fast, useRegistries } from '../helpers/registries.js'
import { describeWithTools } from '../helpers/tools.js'

const sha256 = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex')
const desc = (mediaType: string, b: Buffer): Descriptor => ({
  mediaType,
  digest: sha256(b),
  size: b.length
})

/** A subject no other test names: its fallback tag starts empty. */
function freshSubject(): Descriptor {
  return desc(MediaType.ImageManifest, randomBytes(32))
}

/** An SBOM artifact for `subject`, as `attach` makes one. */
function sbomFor(subject: Descriptor, name: string): ReferrerPush {
  const empty = Buffer.from('{}')
  const file = Buffer.from(JSON.stringify({ spdxVersion: 'SPDX-2.3', name }))
  const config = { ...desc(MediaType.Empty, empty), data: 'e30=' }
  const layer = desc('application/spdx+json', file)
  const annotations = { 'org.opencontainers.image.title': name }
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ImageManifest,
      artifactType: 'application/spdx+json',
      config,
      layers: [layer],
      subject,
      annotations
    })
  )
  const descriptor = desc(MediaType.ImageManifest, bytes)
  return {
    manifest: { descriptor, bytes },
    entry: { ...descriptor, artifactType: 'application/spdx+json', annotations },
    blobs: [
      { descriptor: config, open: async () => Readable.from([empty]) },
      { descriptor: layer, open: async () => Readable.from([file]) }
    ]
  }
}

describeWithTools(['docker-registry'], 'the referrers fallback tag', () => {
  const registries = useRegistries()

  /**
   * The next `times` writes of `tag` through the proxy are answered 201 and never reach the
   * registry, as if another writer had put its own index over each of them.
   */
  function loseTagWrites(tag: string, times: number): void {
    registries.proxy.rules.push({
      method: 'PUT',
      path: new RegExp(`/manifests/${tag}$`),
      times,
      action: { status: 201 }
    })
  }
  const logged: string[] = []
  /** A client of its own, as each job of a matrix has. */
  const target = (host: string, repository = 'concurrent/app'): BlobTarget => ({
    client: new RegistryClient(host, { retry: fast, log: m => logged.push(m) }),
    repository,
    scopes: [repositoryScope(repository, 'pull,push')]
  })
  const listed = async (t: BlobTarget, subject: Descriptor) => {
    const idx = JSON.parse((await getManifest(t, fallbackTag(subject.digest))).bytes.toString())
    return idx.manifests.map((d: Descriptor) => d.digest)
  }
  afterEach(() => {
    registries.proxy.rules.length = 0
    logged.length = 0
  })

  it('keeps both descriptors when two attaches to one image run at once, run after run', async () => {
    const started = Date.now()
    for (let run = 0; run < 10; run++) {
      const subject = freshSubject()
      const a = sbomFor(subject, `amd64-${run}.spdx.json`)
      const b = sbomFor(subject, `arm64-${run}.spdx.json`)
      const vias = await Promise.all([
        pushReferrer(target(registries.plain.host), subject.digest, a),
        pushReferrer(target(registries.plain.host), subject.digest, b)
      ])
      expect(vias).toEqual(['tag', 'tag'])
      const digests = await listed(target(registries.plain.host), subject)
      expect(digests).toHaveLength(2)
      expect(digests).toEqual(
        expect.arrayContaining([a.manifest.descriptor.digest, b.manifest.descriptor.digest])
      )
    }
    expect(Date.now() - started).toBeLessThan(30_000)
  })

  it('keeps every descriptor when four attach at once', async () => {
    const subject = freshSubject()
    const arts = ['a', 'b', 'c', 'd'].map(n => sbomFor(subject, `${n}.spdx.json`))
    await Promise.all(arts.map(a => pushReferrer(target(registries.plain.host), subject.digest, a)))
    expect((await listed(target(registries.plain.host), subject)).sort()).toEqual(
      arts.map(a => a.manifest.descriptor.digest).sort()
    )
  })

  it('merges again when its write is replaced before it is read back', async () => {
    const subject = freshSubject()
    const tag = fallbackTag(subject.digest)
    // The first write of the tag never lands, as if another writer had put its own index over it.
    loseTagWrites(tag, 1)
    const a = sbomFor(subject, 'late.spdx.json')
    expect(await pushReferrer(target(registries.proxy.host), subject.digest, a)).toBe('tag')
    expect(await listed(target(registries.plain.host), subject)).toEqual([
      a.manifest.descriptor.digest
    ])
    expect(logged.join('\n')).toMatch(
      `${registries.proxy.host}/concurrent/app:${tag}: another writer replaced the referrers tag ` +
        `while Lading added ${a.manifest.descriptor.digest}; merging again (attempt 2 of ${MAX_FALLBACK_ATTEMPTS})`
    )
  })

  it(`gives up with a clear error after MAX_FALLBACK_ATTEMPTS (${MAX_FALLBACK_ATTEMPTS}) replaced writes`, async () => {
    const subject = freshSubject()
    const tag = fallbackTag(subject.digest)
    loseTagWrites(tag, 1000)
    const a = sbomFor(subject, 'never.spdx.json')
    const err = await pushReferrer(target(registries.proxy.host), subject.digest, a).catch(e => e)
    expect(err).toBeInstanceOf(LadingError)
    expect(err.message).toBe(
      `${registries.proxy.host}/concurrent/app:${tag}: another writer replaced the referrers tag ` +
        `${MAX_FALLBACK_ATTEMPTS} times while Lading added ${a.manifest.descriptor.digest} ` +
        '(MAX_FALLBACK_ATTEMPTS); the artifact is in the repository by digest but the tag does ' +
        'not list it. Attach again once the other jobs writing to this image are done, or use a ' +
        'registry with the referrers API'
    )
    const puts = registries.proxy.requests.filter(
      r => r.method === 'PUT' && r.path.endsWith(`/manifests/${tag}`)
    )
    expect(puts).toHaveLength(MAX_FALLBACK_ATTEMPTS)
  })

  it('writes nothing when the tag lists the artifact already', async () => {
    const subject = freshSubject()
    const a = sbomFor(subject, 'once.spdx.json')
    await pushReferrer(target(registries.proxy.host), subject.digest, a)
    const n = registries.proxy.requests.length
    const t0 = Date.now()
    await pushReferrer(target(registries.proxy.host), subject.digest, a)
    const tag = fallbackTag(subject.digest)
    expect(
      registries.proxy.requests
        .slice(n)
        .filter(r => r.method === 'PUT' && r.path.endsWith(`/manifests/${tag}`))
    ).toEqual([])
    expect(Date.now() - t0).toBeLessThan(FALLBACK_SETTLE_MS * 10)
    expect(await listed(target(registries.plain.host), subject)).toEqual([
      a.manifest.descriptor.digest
    ])
  })
})

describe('a paged referrers list', () => {
  const fake = useFakeRegistries()
  const subject = 'sha256:' + 'a'.repeat(64)

  it('is an error naming the page when a page is not an image index', async () => {
    const f = await fake((req, res) => {
      if (req.url?.endsWith('?page=2')) {
        res.writeHead(200, { 'Content-Type': MediaType.ImageIndex })
        res.end('[]')
        return
      }
      res.writeHead(200, {
        'Content-Type': MediaType.ImageIndex,
        Link: '<?page=2>; rel="next"'
      })
      res.end(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: [] }))
    })
    const t: BlobTarget = {
      client: new RegistryClient(f.host, quick),
      repository: 'r',
      scopes: [repositoryScope('r', 'pull')]
    }
    const err = await listReferrers(t, subject).catch(e => e)
    expect(err).toBeInstanceOf(LadingError)
    expect(err.message).toBe(
      `GET referrers of ${f.host}/r@${subject}: page 2 of 2 is not an image index with ` +
        '`manifests`, so the pages cannot be merged; the registry answered something else than ' +
        'a referrers list'
    )
  })
})
