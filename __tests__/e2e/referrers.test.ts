/**
 * Any OCI content, attestations and referrers, against a real registry (distribution 2.8, which
 * has no referrers API: the fallback tag) and a proxy that adds the API: artifact layouts pass
 * through byte for byte, buildx-style attestations follow their images through merges and
 * filters, files are attached as referrers, and `lading referrers` lists them.
 */
import { describe, it, expect, beforeAll, afterAll, afterEach } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as http from 'node:http'
import type { AddressInfo } from 'node:net'
import * as path from 'node:path'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cli as runCli } from '../helpers/cli.js'
import { missing } from '../helpers/tools.js'
import { useRegistry } from '../helpers/registries.js'
import { trackedTempDirs } from '../helpers/transports-fixtures.js'
import { startReferrersProxy, type ReferrersProxy } from '../helpers/referrers-proxy.js'
import { Layout, writeLayoutIndex } from '../../src/transports/layout.js'
import { MediaType } from '../../src/oci/mediatypes.js'
import { MAX_REFERRERS_PAGES } from '../../src/registry/referrers.js'
import type { Descriptor } from '../../src/oci/types.js'

const sha256 = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex')

const tmpDirs = trackedTempDirs('lading-referrers-')
let tmp: string
let proxy: ReferrersProxy
const cli = (args: string[]) => runCli(args, { HOME: tmp })

function skopeoRaw(ref: string): Buffer {
  return execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`])
}

async function readBlob(layout: string, digest: string): Promise<Buffer> {
  return fs.readFile(path.join(layout, 'blobs', 'sha256', digest.slice(7)))
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON documents of several shapes
async function indexJson(layout: string): Promise<any> {
  return JSON.parse(await fs.readFile(path.join(layout, 'index.json'), 'utf8'))
}

/** An OCI 1.1 artifact layout, as oras would write it: empty config, one file, artifactType. */
async function artifactLayout(dir: string): Promise<Descriptor & { bytes: Buffer }> {
  const store = new Layout(dir)
  await store.init()
  const empty = await store.writeBuffer(Buffer.from('{}'))
  const chart = await store.writeBuffer(Buffer.from('a helm chart, or any file\n'))
  const m = await store.writeJSON(
    {
      schemaVersion: 2,
      mediaType: MediaType.ImageManifest,
      artifactType: 'application/vnd.example.chart.v1',
      config: { mediaType: MediaType.Empty, ...empty, data: 'e30=' },
      layers: [{ mediaType: 'application/vnd.example.chart.layer.v1.tar', ...chart }],
      annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' }
    },
    MediaType.ImageManifest
  )
  await writeLayoutIndex(dir, [
    {
      mediaType: m.mediaType,
      digest: m.digest,
      size: m.size,
      annotations: { 'org.opencontainers.image.ref.name': 'latest' }
    }
  ])
  await store.finish()
  return m
}

/** buildkit's attestation manifest for `subject`: an unknown/unknown image of in-toto layers. */
async function attestationOf(store: Layout, subject: string): Promise<Descriptor> {
  const statement = await store.writeBuffer(
    Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v0.1', subject }))
  )
  const config = await store.writeJSON(
    {
      architecture: 'unknown',
      os: 'unknown',
      config: {},
      rootfs: { type: 'layers', diff_ids: [statement.digest] }
    },
    MediaType.ImageConfig
  )
  const m = await store.writeJSON(
    {
      schemaVersion: 2,
      mediaType: MediaType.ImageManifest,
      config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
      layers: [
        {
          mediaType: 'application/vnd.in-toto+json',
          ...statement,
          annotations: { 'in-toto.io/predicate-type': 'https://slsa.dev/provenance/v0.2' }
        }
      ]
    },
    MediaType.ImageManifest
  )
  return {
    mediaType: m.mediaType,
    digest: m.digest,
    size: m.size,
    platform: { architecture: 'unknown', os: 'unknown' },
    annotations: {
      'vnd.docker.reference.digest': subject,
      'vnd.docker.reference.type': 'attestation-manifest'
    }
  }
}

/** Copies a single-platform layout Lading built into `store`; returns its manifest descriptor. */
async function copyImage(from: string, store: Layout, platform: string): Promise<Descriptor> {
  const idx = await indexJson(from)
  const top = idx.manifests[0]
  const manifest = await readBlob(from, top.digest)
  const doc = JSON.parse(manifest.toString())
  for (const d of [doc.config, ...doc.layers])
    await store.writeBuffer(await readBlob(from, d.digest))
  await store.writeBuffer(manifest)
  const [os_, architecture] = platform.split('/')
  return {
    mediaType: top.mediaType,
    digest: top.digest,
    size: top.size,
    platform: { os: os_, architecture }
  }
}

/** A buildx-style layout: an index of images, each followed by its attestation manifest. */
async function buildxLayout(dir: string, images: Array<[string, string]>): Promise<Buffer> {
  const store = new Layout(dir)
  await store.init()
  const entries: Descriptor[] = []
  for (const [from, platform] of images) {
    const img = await copyImage(from, store, platform)
    entries.push(img)
    entries.push(await attestationOf(store, img.digest))
  }
  const idx = await store.writeJSON(
    { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: entries },
    MediaType.ImageIndex
  )
  await writeLayoutIndex(dir, [
    {
      mediaType: idx.mediaType,
      digest: idx.digest,
      size: idx.size,
      annotations: { 'org.opencontainers.image.ref.name': 'latest' }
    }
  ])
  await store.finish()
  return idx.bytes
}

let amd64: string
let arm64: string
beforeAll(() => {
  // Every test here needs them: a missing one fails the file, never passes it unchecked.
  const lacking = missing(['docker-registry', 'skopeo'])
  if (lacking.length) throw new Error(`these tests need ${lacking.join(', ')}`)
})
const reg = useRegistry()
beforeAll(async () => {
  tmp = await tmpDirs()
  proxy = await startReferrersProxy(reg.host)
  for (const arch of ['amd64', 'arm64']) {
    const dir = path.join(tmp, `files-${arch}`)
    await fs.mkdir(dir)
    await fs.writeFile(path.join(dir, 'app'), `${arch}\n`)
    const r = await cli([
      'build',
      '--platforms',
      `linux/${arch}`,
      '--layers',
      `${dir}:/app`,
      '--created',
      '0',
      '--output',
      path.join(tmp, `img-${arch}`)
    ])
    expect(r.err).toBe(r.code === 0 ? r.err : '')
    expect(r.code).toBe(0)
  }
  amd64 = path.join(tmp, 'img-amd64')
  arm64 = path.join(tmp, 'img-arm64')
}, 60_000)
afterAll(async () => {
  await proxy?.stop()
})

describe('artifacts pass through', () => {
  it('an artifact layout passes validation and the gate, and arrives byte-identical', async () => {
    const dir = path.join(tmp, 'artifact')
    const m = await artifactLayout(dir)
    const v = await cli(['validate', `oci:${dir}`])
    expect(v.stdout).toMatch(/valid/)
    expect(v.code).toBe(0)
    const out = path.join(tmp, 'artifact-out')
    const r = await cli([
      'build',
      '--from',
      `oci:${dir}`,
      '--output',
      out,
      '--push',
      '--tags',
      `${reg.host}/art:1`
    ])
    expect(r.err).not.toMatch(/error/)
    expect(r.code).toBe(0)
    expect(r.out.digest).toBe(m.digest)
    expect(r.out.platforms ?? '').toBe('')
    expect(await readBlob(out, m.digest)).toEqual(m.bytes)
    expect(skopeoRaw(`${reg.host}/art:1`)).toEqual(m.bytes)
    // skopeo copies Lading's artifact layout, whole
    const copy = path.join(tmp, 'artifact-skopeo')
    execFileSync('skopeo', ['copy', '-q', `oci:${out}:latest`, `oci:${copy}:x`])
    expect(sha256(skopeoRaw(`${reg.host}/art:1`))).toBe((await indexJson(copy)).manifests[0].digest)
  })

  it('edits on an artifact are a clear error', async () => {
    const dir = path.join(tmp, 'artifact-edit')
    await artifactLayout(dir)
    const r = await cli([
      'build',
      '--from',
      `oci:${dir}`,
      '--env',
      'A=1',
      '--output',
      path.join(tmp, 'x')
    ])
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/holds no container image .*config edits/)
  })
})

describe('attestations follow their subjects', () => {
  it('a buildx-style index passes the gate and arrives byte-identical', async () => {
    const dir = path.join(tmp, 'buildx')
    const bytes = await buildxLayout(dir, [
      [amd64, 'linux/amd64'],
      [arm64, 'linux/arm64']
    ])
    const r = await cli([
      'build',
      '--from',
      `oci:${dir}`,
      '--output',
      path.join(tmp, 'bx-out'),
      '--push',
      '--tags',
      `${reg.host}/bx:1`
    ])
    expect(r.code).toBe(0)
    expect(r.out.digest).toBe(sha256(bytes))
    expect(skopeoRaw(`${reg.host}/bx:1`)).toEqual(bytes)
  })

  it('survive a merge intact, and are dropped with a line when their image is filtered out or rebuilt', async () => {
    const a = path.join(tmp, 'bx-amd64')
    const b = path.join(tmp, 'bx-arm64')
    await buildxLayout(a, [[amd64, 'linux/amd64']])
    await buildxLayout(b, [[arm64, 'linux/arm64']])
    const attA = (await indexJson(a)).manifests[0]
    const srcA = JSON.parse((await readBlob(a, attA.digest)).toString()).manifests
    const srcB = JSON.parse(
      (await readBlob(b, (await indexJson(b)).manifests[0].digest)).toString()
    ).manifests
    const out = path.join(tmp, 'merged')
    const r = await cli([
      'build',
      '--from',
      `oci:${a}`,
      '--from',
      `oci:${b}`,
      '--output',
      out,
      '--push',
      '--tags',
      `${reg.host}/merged:1`
    ])
    expect(r.code).toBe(0)
    const merged = JSON.parse((await readBlob(out, r.out.digest)).toString()).manifests
    expect(merged).toHaveLength(4)
    for (const e of [...srcA, ...srcB]) expect(merged).toContainEqual(e)
    const pushed = JSON.parse(skopeoRaw(`${reg.host}/merged:1`).toString())
    expect(pushed.manifests).toEqual(merged)
    for (const e of merged)
      expect(sha256(skopeoRaw(`${reg.host}/merged@${e.digest}`))).toBe(e.digest)

    const filtered = await cli([
      'build',
      '--from',
      `oci:${out}`,
      '--platforms',
      'linux/amd64',
      '--output',
      path.join(tmp, 'filtered')
    ])
    expect(filtered.code).toBe(0)
    expect(filtered.err).toMatch(/dropped attestation .* not in the result/)
    const kept = JSON.parse(
      (await readBlob(path.join(tmp, 'filtered'), filtered.out.digest)).toString()
    ).manifests
    expect(kept).toEqual(srcA)

    const rebuilt = await cli([
      'build',
      '--from',
      `oci:${out}`,
      '--env',
      'A=1',
      '--output',
      path.join(tmp, 'rebuilt')
    ])
    expect(rebuilt.code).toBe(0)
    expect(rebuilt.err).toMatch(/dropped attestation .* rebuilt as sha256:/)
    const entries = JSON.parse(
      (await readBlob(path.join(tmp, 'rebuilt'), rebuilt.out.digest)).toString()
    ).manifests
    expect(entries).toHaveLength(2)
    expect(entries.every((e: Descriptor) => e.platform?.os === 'linux')).toBe(true)
  })
})

describe('attach', () => {
  it('attaches files as referrers through the fallback tag, found by skopeo and lading referrers', async () => {
    const sbom = path.join(tmp, 'sbom.spdx.json')
    await fs.writeFile(sbom, JSON.stringify({ spdxVersion: 'SPDX-2.3' }))
    const report = path.join(tmp, 'report.txt')
    await fs.writeFile(report, 'all tests passed\n')
    const out = path.join(tmp, 'attached')
    const archive = path.join(tmp, 'attached.tar')
    const r = await cli([
      'build',
      '--from',
      `oci:${amd64}`,
      '--output',
      out,
      '--archive',
      archive,
      '--created',
      '0',
      '--attach',
      `${sbom}:application/spdx+json`,
      '--attach',
      report,
      '--push',
      '--tags',
      `${reg.host}/app:1`
    ])
    expect(r.code).toBe(0)
    const attached: string[] = JSON.parse(r.out.attached)
    expect(attached).toHaveLength(2)
    // in the layout: index.json lists the image (named) and its artifacts; validation passes
    const idx = await indexJson(out)
    expect(idx.manifests.map((d: Descriptor) => d.digest)).toEqual([r.out.digest, ...attached])
    expect((await cli(['validate', out])).code).toBe(0)
    const art = JSON.parse((await readBlob(out, attached[0])).toString())
    expect(art).toMatchObject({
      artifactType: 'application/spdx+json',
      config: { mediaType: MediaType.Empty, size: 2, data: 'e30=' },
      layers: [
        {
          mediaType: 'application/spdx+json',
          annotations: { 'org.opencontainers.image.title': 'sbom.spdx.json' }
        }
      ],
      subject: { digest: r.out.digest }
    })
    expect(art.annotations['org.opencontainers.image.created']).toBe('1970-01-01T00:00:00Z')
    expect(JSON.parse((await readBlob(out, attached[1])).toString()).artifactType).toBe(
      'text/plain'
    )
    // the archive carries them
    const names = execFileSync('tar', ['-tf', archive], { encoding: 'utf8' })
    for (const d of attached) expect(names).toContain(d.slice(7))
    // a build reading the layout back takes the image, not its artifacts
    expect(
      (await cli(['build', '--from', `oci:${out}`, '--output', path.join(tmp, 're')])).out.digest
    ).toBe(r.out.digest)

    const tag = `sha256-${r.out.digest.slice(7)}`
    const fallback = JSON.parse(skopeoRaw(`${reg.host}/app:${tag}`).toString())
    expect(fallback.manifests.map((d: Descriptor) => d.digest)).toEqual(attached)
    expect(fallback.manifests[0].artifactType).toBe('application/spdx+json')

    const listed = await cli(['referrers', `${reg.host}/app:1`, '--format', 'json'])
    expect(listed.err).toBe('')
    expect(listed.code).toBe(0)
    const json = JSON.parse(listed.stdout)
    expect(json).toMatchObject({ subject: r.out.digest, via: 'tag', findings: [] })
    expect(json.referrers.map((d: Descriptor) => d.digest)).toEqual(attached)
    const table = await cli(['referrers', `${reg.host}/app@${r.out.digest}`])
    expect(table.stdout).toMatch(/fallback tag sha256-/)
    expect(table.stdout).toMatch(
      /application\/spdx\+json +\d+ +sbom\.spdx\.json +1970-01-01T00:00:00Z/
    )

    // attaching again merges into the fallback tag's index
    const more = path.join(tmp, 'more.txt')
    await fs.writeFile(more, 'more\n')
    const again = await cli([
      'build',
      '--from',
      `oci:${amd64}`,
      '--output',
      path.join(tmp, 'again'),
      '--attach',
      more,
      '--push',
      '--tags',
      `${reg.host}/app:1`
    ])
    expect(again.code).toBe(0)
    const merged = JSON.parse(skopeoRaw(`${reg.host}/app:${tag}`).toString())
    expect(merged.manifests.map((d: Descriptor) => d.digest)).toEqual([
      ...attached,
      ...JSON.parse(again.out.attached)
    ])
  })

  it('two jobs attaching to one image at once both end up in the fallback tag', async () => {
    const runs = await Promise.all(
      ['amd64', 'arm64'].map(async job => {
        const sbom = path.join(tmp, `matrix-${job}.spdx.json`)
        await fs.writeFile(sbom, JSON.stringify({ spdxVersion: 'SPDX-2.3', name: job }))
        return cli([
          'build',
          '--from',
          `oci:${amd64}`,
          '--output',
          path.join(tmp, `matrix-${job}`),
          '--created',
          '0',
          '--attach',
          sbom,
          '--push',
          '--tags',
          `${reg.host}/matrix:1`
        ])
      })
    )
    for (const r of runs) expect(r.code).toBe(0)
    expect(runs[0].out.digest).toBe(runs[1].out.digest)
    const attached = runs.flatMap(r => JSON.parse(r.out.attached) as string[])
    const tag = `sha256-${runs[0].out.digest.slice(7)}`
    const fallback = JSON.parse(skopeoRaw(`${reg.host}/matrix:${tag}`).toString())
    expect(fallback.manifests.map((d: Descriptor) => d.digest).sort()).toEqual(attached.sort())
  })

  it('uses the referrers API where the registry has one (no fallback tag)', async () => {
    const note = path.join(tmp, 'note.txt')
    await fs.writeFile(note, 'through the API\n')
    const r = await cli([
      'build',
      '--from',
      `oci:${arm64}`,
      '--output',
      path.join(tmp, 'api'),
      '--attach',
      note,
      '--push',
      '--tags',
      `${proxy.host}/api:1`
    ])
    expect(r.code).toBe(0)
    expect(r.err).toMatch(/through the referrers API/)
    const tag = `sha256-${r.out.digest.slice(7)}`
    expect(proxy.requests.some(x => x.includes(`/manifests/${tag}`))).toBe(false)
    const listed = JSON.parse(
      (await cli(['referrers', `${proxy.host}/api:1`, '--format', 'json'])).stdout
    )
    expect(listed).toMatchObject({ via: 'api', findings: [] })
    expect(listed.referrers.map((d: Descriptor) => d.digest)).toEqual(JSON.parse(r.out.attached))
  })
})

describe('paged referrers lists', () => {
  let subject: string
  let attached: string[]
  let listPath: string
  beforeAll(async () => {
    const files: string[] = []
    for (const n of [1, 2, 3, 4, 5]) {
      const f = path.join(tmp, `paged-${n}.txt`)
      await fs.writeFile(f, `file ${n}\n`)
      files.push('--attach', f)
    }
    const r = await cli([
      'build',
      '--from',
      `oci:${amd64}`,
      '--output',
      path.join(tmp, 'paged'),
      ...files,
      '--push',
      '--tags',
      `${proxy.host}/paged:1`
    ])
    expect(r.code).toBe(0)
    subject = r.out.digest
    attached = JSON.parse(r.out.attached)
    expect(attached).toHaveLength(5)
    listPath = `/v2/paged/referrers/${subject}`
  }, 60_000)
  afterEach(() => {
    proxy.paging = undefined
  })

  const pageRequests = () =>
    proxy.requests.filter(x => x.startsWith(`GET ${listPath}`)).map(x => x.slice(4))

  it('reads every page, following relative and absolute next links, and merges them in order', async () => {
    // page 1 links by a query relative to the request, page 2 by an absolute URL
    proxy.paging = {
      size: 2,
      link: (n, pages, p) =>
        n === pages
          ? undefined
          : n === 1
            ? `<?page=2>; rel="next"`
            : `<http://${proxy.host}${p}?page=${n + 1}>; rel="next"`
    }
    const before = pageRequests().length
    const r = await cli(['referrers', `${proxy.host}/paged:1`, '--format', 'json'])
    expect(r.err).toBe('')
    expect(r.code).toBe(0)
    const json = JSON.parse(r.stdout)
    expect(json).toMatchObject({ subject, via: 'api', findings: [] })
    expect(json.referrers.map((d: Descriptor) => d.digest)).toEqual(attached)
    expect(pageRequests().slice(before)).toEqual([
      listPath,
      `${listPath}?page=2`,
      `${listPath}?page=3`
    ])
    // the table counts them all too
    const table = await cli(['referrers', `${proxy.host}/paged@${subject}`])
    expect(table.stdout).toMatch(/referrers API\): 5\n/)
  })

  it('refuses a next link to another origin, sending it nothing', async () => {
    const elsewhere: string[] = []
    const other = http.createServer((req, res) => {
      elsewhere.push(`${req.method} ${req.url}`)
      res.writeHead(200, { 'Content-Type': MediaType.ImageIndex })
      res.end(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: [] }))
    })
    await new Promise<void>(resolve => other.listen(0, '127.0.0.1', () => resolve()))
    const otherHost = `127.0.0.1:${(other.address() as AddressInfo).port}`
    try {
      proxy.paging = {
        size: 2,
        link: (n, _pages, p) => `<http://${otherHost}${p}?page=${n + 1}&token=s3cr3t>; rel="next"`
      }
      const r = await runCli(['referrers', `${proxy.host}/paged:1`], {
        HOME: tmp,
        LADING_USERNAME: 'someone',
        LADING_PASSWORD: 'pa55word'
      })
      expect(r.code).toBe(1)
      expect(r.err).toMatch(
        new RegExp(
          `GET referrers of ${proxy.host}/paged@${subject}: page 1 links its next page to ` +
            `http://${otherHost}/v2/paged/referrers/${subject}, off the registry's origin ` +
            `http://${proxy.host}; Lading does not follow it`
        )
      )
      expect(r.err).not.toMatch(/s3cr3t|pa55word|\n\s+at /)
      expect(elsewhere).toEqual([])
    } finally {
      await new Promise<void>(resolve => {
        other.close(() => resolve())
        other.closeAllConnections()
      })
    }
  })

  it('stops next links that go round in a loop', async () => {
    // page 2 links back to the first page (the list's URL without a query)
    proxy.paging = {
      size: 2,
      link: (n, _pages, p) => (n === 1 ? `<${p}?page=2>; rel="next"` : `<${p}>; rel="next"`)
    }
    const before = pageRequests().length
    const r = await cli(['referrers', `${proxy.host}/paged:1`])
    expect(r.code).toBe(1)
    expect(r.err).toMatch(
      new RegExp(
        `GET referrers of ${proxy.host}/paged@${subject}: page 2 links its next page to ` +
          `http://${proxy.host}${listPath}, a page already read; the registry's pages go round in a loop`
      )
    )
    expect(pageRequests().slice(before)).toEqual([listPath, `${listPath}?page=2`])
  })

  it(`stops after MAX_REFERRERS_PAGES (${MAX_REFERRERS_PAGES}) pages, naming the registry`, async () => {
    proxy.paging = { size: 2, link: (n, _pages, p) => `<${p}?page=${n + 1}>; rel="next"` }
    const before = pageRequests().length
    const r = await cli(['referrers', `${proxy.host}/paged:1`])
    expect(r.code).toBe(1)
    expect(r.err).toMatch(
      `${proxy.host} pages the list beyond ${MAX_REFERRERS_PAGES} pages (MAX_REFERRERS_PAGES)`
    )
    expect(pageRequests().length - before).toBe(MAX_REFERRERS_PAGES)
  })
})

describe('platform truth', () => {
  it('an index entry that says arm64 over an amd64 config fails the gate with platform-mismatch', async () => {
    const dir = path.join(tmp, 'liar')
    const store = new Layout(dir)
    await store.init()
    const img = await copyImage(amd64, store, 'linux/arm64')
    const idx = await store.writeJSON(
      { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: [img] },
      MediaType.ImageIndex
    )
    await writeLayoutIndex(dir, [{ mediaType: idx.mediaType, digest: idx.digest, size: idx.size }])
    await store.finish()
    const v = await cli(['validate', dir])
    expect(v.code).toBe(1)
    expect(v.stdout).toMatch(/platform-mismatch.*linux\/arm64.*linux\/amd64/)
    const b = await cli(['build', '--from', `oci:${dir}`, '--output', path.join(tmp, 'liar-out')])
    expect(b.code).toBe(1)
    expect(b.err).toMatch(/platform-mismatch/)
  })
})
