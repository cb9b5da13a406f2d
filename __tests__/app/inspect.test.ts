/** inspect's pure parts: documents → Inspection → text, and what reading asks of a source. */
import { describe, expect, it } from '@jest/globals'
import { Readable } from 'node:stream'
import fc from 'fast-check'
import {
  entryKind,
  inspectionOf,
  MAX_DOCUMENT,
  readDocuments,
  selectEntry,
  skipLayerScan,
  type InspectDocuments,
  type ReadDocument
} from '../../src/app/inspect.js'
import { CUT_MARKER, formatInspection, shownLine, VALUE_WIDTH } from '../../src/app/inspect-text.js'
import type { ImageSource } from '../../src/oci/blobs.js'
import type { Descriptor } from '../../src/oci/types.js'
import { LadingError } from '../../src/util/errors.js'
import { sha256 } from '../helpers/transports-fixtures.js'

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const INDEX = 'application/vnd.oci.image.index.v1+json'
const CONFIG = 'application/vnd.oci.image.config.v1+json'
const GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip'

function doc(body: unknown, mediaType = MANIFEST): ReadDocument {
  const bytes = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body))
  return { descriptor: { mediaType, digest: sha256(bytes), size: bytes.length }, bytes }
}

const layer = (n: number): Descriptor => ({
  mediaType: GZIP,
  digest: sha256(`layer ${n}`),
  size: 1000 * n
})

function image(config: object, extra: object = {}) {
  const c = doc(config, CONFIG)
  const m = doc({
    schemaVersion: 2,
    mediaType: MANIFEST,
    config: c.descriptor,
    layers: [layer(1), layer(2)],
    ...extra
  })
  return { config: c, manifest: m }
}

const runConfig = {
  architecture: 'arm',
  os: 'linux',
  variant: 'v7',
  created: '2024-01-02T03:04:05Z',
  config: {
    User: 'app',
    Entrypoint: ['/bin/app'],
    Cmd: ['serve'],
    WorkingDir: '/srv',
    Env: ['A=1', `B=${'x'.repeat(500)}`],
    ExposedPorts: { '9090/udp': {}, '8080/tcp': {} },
    Labels: { title: 'demo', evil: 'line\nbreak\u001b[31m' }
  },
  rootfs: { type: 'layers', diff_ids: [sha256('tar 1'), sha256('tar 2')] }
}

const entry = (platform: string, extra: Partial<Descriptor> = {}): Descriptor => {
  const [os, architecture, variant] = platform.split('/')
  return {
    mediaType: MANIFEST,
    digest: sha256(platform + JSON.stringify(extra)),
    size: 500,
    platform: { os, architecture, ...(variant ? { variant } : {}) },
    ...extra
  }
}

const attestation = entry('unknown/unknown', {
  annotations: {
    'vnd.docker.reference.type': 'attestation-manifest',
    'vnd.docker.reference.digest': sha256('linux/amd64{}')
  }
})

describe('entryKind', () => {
  it('tells images, attestations, artifacts and indexes apart from the descriptor alone', () => {
    expect(entryKind(entry('linux/amd64'))).toBe('image')
    expect(entryKind(attestation)).toBe('attestation')
    expect(entryKind(entry('linux/amd64', { artifactType: 'application/spdx+json' }))).toBe(
      'artifact'
    )
    expect(entryKind({ ...entry('linux/amd64'), mediaType: 'application/x-other' })).toBe(
      'artifact'
    )
    expect(entryKind({ ...entry('linux/amd64'), mediaType: INDEX })).toBe('index')
  })
})

describe('selectEntry', () => {
  const entries = [entry('linux/amd64'), entry('linux/arm/v6'), entry('linux/arm/v7'), attestation]

  it('selects the one image of a platform, the variant included', () => {
    expect(selectEntry(entries, { os: 'linux', architecture: 'amd64' }, 'x').digest).toBe(
      entries[0].digest
    )
    expect(
      selectEntry(entries, { os: 'linux', architecture: 'arm', variant: 'v7' }, 'x').digest
    ).toBe(entries[2].digest)
  })

  it('names the platforms there when the one asked for is absent, and never an attestation', () => {
    const err = (() => {
      try {
        selectEntry(entries, { os: 'unknown', architecture: 'unknown' }, 'oci:./x')
      } catch (e) {
        return e as Error
      }
    })()
    expect(err).toBeInstanceOf(LadingError)
    expect(err?.message).toBe(
      'no image for unknown/unknown in oci:./x; it has linux/amd64, linux/arm/v6, linux/arm/v7'
    )
  })

  it('names ten platforms at most, each on the same line', () => {
    const many = Array.from({ length: 14 }, (_, i) =>
      entry(`linux/arch${i}${i === 2 ? '\n::error::x' : ''}`)
    )
    expect(() => selectEntry(many, { os: 'linux', architecture: 'riscv64' }, 'x')).toThrow(
      /^no image for linux\/riscv64 in x; it has linux\/arch0, linux\/arch1, linux\/arch2\\n::error::x, .*linux\/arch9 and 4 more$/
    )
    const same = Array.from({ length: 12 }, (_, i) => entry('linux/arm/v7', { size: i }))
    expect(() => selectEntry(same, { os: 'linux', architecture: 'arm' }, 'x')).toThrow(
      /^12 images in x match linux\/arm: (linux\/arm\/v7 \(sha256:[0-9a-f]{64}\), ){9}linux\/arm\/v7 \(sha256:[0-9a-f]{64}\) and 2 more; name/
    )
  })

  it('asks for the variant when several images match', () => {
    expect(() => selectEntry(entries, { os: 'linux', architecture: 'arm' }, 'x')).toThrow(
      /2 images in x match linux\/arm: linux\/arm\/v6 \(sha256:.*linux\/arm\/v7 .*name the platform whole/
    )
  })
})

describe('inspectionOf', () => {
  it('lists the entries of an index, and no image', () => {
    const top = doc(
      { schemaVersion: 2, mediaType: INDEX, manifests: [entry('linux/amd64'), attestation] },
      INDEX
    )
    const i = inspectionOf({ source: 'oci:x', top })
    expect(i).toMatchObject({ kind: 'index', digest: top.descriptor.digest, image: null })
    expect(i.manifests).toEqual([
      expect.objectContaining({ platform: 'linux/amd64', kind: 'image', attests: null }),
      expect.objectContaining({
        platform: 'unknown/unknown',
        kind: 'attestation',
        attests: sha256('linux/amd64{}')
      })
    ])
  })

  it('gives every fact of an image, the diff_ids beside the layers', () => {
    const { config, manifest } = image(runConfig, { annotations: { a: 'b' } })
    const i = inspectionOf({ source: 's', top: manifest, manifest, config })
    expect(i).toMatchObject({ kind: 'image', manifests: null, annotations: { a: 'b' } })
    expect(i.image).toEqual({
      digest: manifest.descriptor.digest,
      mediaType: MANIFEST,
      size: manifest.descriptor.size,
      kind: 'image',
      artifactType: null,
      platform: 'linux/arm/v7',
      config: config.descriptor,
      created: '2024-01-02T03:04:05Z',
      author: null,
      user: 'app',
      entrypoint: ['/bin/app'],
      cmd: ['serve'],
      workingDir: '/srv',
      env: runConfig.config.Env,
      exposedPorts: ['8080/tcp', '9090/udp'],
      volumes: [],
      stopSignal: null,
      labels: runConfig.config.Labels,
      annotations: { a: 'b' },
      layers: [
        { ...layer(1), diffId: sha256('tar 1') },
        { ...layer(2), diffId: sha256('tar 2') }
      ]
    })
  })

  it('shows an artifact as one, without reading its config as an image config', () => {
    const empty = doc('{}', 'application/vnd.oci.empty.v1+json')
    const m = doc({
      schemaVersion: 2,
      mediaType: MANIFEST,
      artifactType: 'application/spdx+json',
      config: empty.descriptor,
      layers: [layer(3)]
    })
    const i = inspectionOf({ source: 's', top: m, manifest: m })
    expect(i.kind).toBe('artifact')
    expect(i.image).toMatchObject({ kind: 'artifact', platform: null, env: [] })
    expect(i.image!.layers[0].diffId).toBeNull()
  })

  it('says what is wrong with a document that is not one, as a LadingError', () => {
    const cases: [ReadDocument, RegExp][] = [
      [doc('not json'), /is not valid JSON/],
      [
        doc(`{"schemaVersion":2,"x":${'['.repeat(10_000)}${']'.repeat(10_000)}}`),
        /^the top document sha256:\w+ nests arrays and objects 10001 levels deep, more than the 64/
      ],
      [doc('[1]'), /is not a JSON object/],
      [
        doc({ schemaVersion: 2, foo: 1 }, 'application/x-other'),
        /neither an image index nor a manifest/
      ],
      [
        doc({ schemaVersion: 2, mediaType: INDEX, manifests: [{ digest: 'x' }] }, INDEX),
        /manifests\[0\] of the index .* is not a valid descriptor/
      ],
      [
        doc({ schemaVersion: 2, mediaType: MANIFEST, config: layer(1), layers: 3 }),
        /has no "layers" array/
      ]
    ]
    for (const [top, message] of cases) {
      const docs: InspectDocuments = { source: 's', top, manifest: top }
      expect(() => inspectionOf(docs)).toThrow(LadingError)
      expect(() => inspectionOf(docs)).toThrow(message)
    }
  })
})

describe('formatInspection', () => {
  const { config, manifest } = image(runConfig)
  const text = formatInspection(inspectionOf({ source: 's', top: manifest, manifest, config }))

  it('cuts long values with a marker and keeps every value on its line', () => {
    const lines = text.split('\n')
    const b = lines.find(l => l.includes('B=xxx'))!
    expect(b.endsWith(CUT_MARKER)).toBe(true)
    expect(b.trim().length).toBe(VALUE_WIDTH)
    expect(text).toContain('evil=line\\nbreak\\u001b[31m')
    expect(text).not.toContain('\u001b')
    expect(lines.every(l => l.length <= 160)).toBe(true)
  })

  it('shows the run facts and a layers table with the diff_ids', () => {
    expect(text).toMatch(/^platform +linux\/arm\/v7$/m)
    expect(text).toMatch(/^entrypoint +\["\/bin\/app"\]$/m)
    expect(text).toMatch(/^exposed ports +8080\/tcp, 9090\/udp$/m)
    expect(text).toMatch(/^user +app$/m)
    expect(text).toMatch(/^layers \(2, 2\.9 KiB compressed\):$/m)
    const hex = (s: string) => s.slice(7, 19)
    expect(text).toMatch(
      new RegExp(
        `^  1 +sha256:${hex(layer(2).digest)}… +2\\.0 KiB +${GZIP.replace(/[.+]/g, '\\$&')} +sha256:${hex(sha256('tar 2'))}…$`,
        'm'
      )
    )
  })

  it('shows an index as its entries, with a hint to choose one', () => {
    const top = doc(
      { schemaVersion: 2, mediaType: INDEX, manifests: [entry('linux/amd64'), attestation] },
      INDEX
    )
    const t = formatInspection(inspectionOf({ source: 's', top }))
    expect(t).toMatch(/^ {2}linux\/amd64 +image +500 B +sha256:[0-9a-f]{64}$/m)
    expect(t).toMatch(
      /^ {2}unknown\/unknown +attestation +500 B +sha256:[0-9a-f]{64} \(of sha256:[0-9a-f]{12}…\)$/m
    )
    expect(t).toContain('--platform linux/amd64')
    expect(t).not.toMatch(/^layers/m)
  })
})

/** C0 and C1 controls, and the two Unicode line breaks: what a terminal would act on. */
const hasControl = (s: string): boolean =>
  Array.from(s).some(c => {
    const n = c.codePointAt(0)!
    return n < 0x20 || (n >= 0x7f && n <= 0x9f) || n === 0x2028 || n === 0x2029
  })

describe('shownLine', () => {
  it('is one line of at most the width, whatever the value', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 300 }),
        fc.integer({ min: 2, max: 120 }),
        (s, w) => {
          const line = shownLine(s, w)
          expect(Array.from(line).length).toBeLessThanOrEqual(w)
          expect(hasControl(line)).toBe(false)
          if (Array.from(s).length <= w && !hasControl(s)) expect(line).toBe(s)
        }
      )
    )
  })
})

/** A source in memory that counts what it is asked to read. */
function memorySource(
  root: ReadDocument,
  others: ReadDocument[]
): ImageSource & { reads: string[] } {
  const all = new Map([root, ...others].map(d => [d.descriptor.digest, d.bytes]))
  const reads: string[] = []
  return {
    name: 'mem',
    root: root.descriptor,
    reads,
    async read(d: Descriptor) {
      reads.push(d.digest)
      const b = all.get(d.digest)
      if (!b) throw new LadingError(`missing ${d.digest}`)
      return b
    },
    async open() {
      throw new Error('inspect must not stream a blob')
    },
    async has(d: Descriptor) {
      return all.has(d.digest)
    }
  }
}

describe('readDocuments', () => {
  const amd = image({ ...runConfig, architecture: 'amd64', variant: undefined })
  const arm = image(runConfig)
  const index = doc(
    {
      schemaVersion: 2,
      mediaType: INDEX,
      manifests: [
        { ...amd.manifest.descriptor, platform: { os: 'linux', architecture: 'amd64' } },
        {
          ...arm.manifest.descriptor,
          platform: { os: 'linux', architecture: 'arm', variant: 'v7' }
        }
      ]
    },
    INDEX
  )
  const docs = [amd.manifest, amd.config, arm.manifest, arm.config]

  it('reads only the index without --platform, and one manifest and one config with it', async () => {
    const src = memorySource(index, docs)
    await readDocuments(src)
    expect(src.reads).toEqual([index.descriptor.digest])
    const src2 = memorySource(index, docs)
    const read = await readDocuments(src2, { platform: { os: 'linux', architecture: 'arm' } })
    expect(src2.reads).toEqual([
      index.descriptor.digest,
      arm.manifest.descriptor.digest,
      arm.config.descriptor.digest
    ])
    expect(read.config?.bytes).toEqual(arm.config.bytes)
  })

  it('reads no config for --raw', async () => {
    const src = memorySource(index, docs)
    const read = await readDocuments(src, {
      platform: { os: 'linux', architecture: 'amd64' },
      want: 'raw'
    })
    expect(src.reads).toEqual([index.descriptor.digest, amd.manifest.descriptor.digest])
    expect(read.manifest?.bytes).toEqual(amd.manifest.bytes)
  })

  it('refuses --config on an index without --platform, naming its platforms', async () => {
    await expect(readDocuments(memorySource(index, docs), { want: 'config' })).rejects.toThrow(
      'mem is an index (it has linux/amd64, linux/arm/v7); --config needs --platform to choose one image'
    )
  })

  it('refuses a --platform a single image is not for', async () => {
    const src = memorySource(arm.manifest, [arm.config])
    await expect(
      readDocuments(src, { platform: { os: 'linux', architecture: 'amd64' } })
    ).rejects.toThrow('mem is one image, for linux/arm/v7, not linux/amd64')
    await readDocuments(memorySource(arm.manifest, [arm.config]), {
      platform: { os: 'linux', architecture: 'arm' }
    })
  })

  it('reads the config of an artifact only when asked for it', async () => {
    const empty = doc('{}', 'application/vnd.oci.empty.v1+json')
    const m = doc({
      schemaVersion: 2,
      mediaType: MANIFEST,
      artifactType: 'a/b',
      config: empty.descriptor,
      layers: []
    })
    const src = memorySource(m, [empty])
    expect((await readDocuments(src)).config).toBeUndefined()
    expect((await readDocuments(src, { want: 'config' })).config?.bytes.toString()).toBe('{}')
  })

  it('refuses a document larger than MAX_DOCUMENT without reading it', async () => {
    const big = { ...index, descriptor: { ...index.descriptor, size: MAX_DOCUMENT + 1 } }
    const src = memorySource(big, [])
    await expect(readDocuments(src)).rejects.toThrow(/more than the 16777216 Lading reads/)
    expect(src.reads).toEqual([])
  })
})

describe('skipLayerScan', () => {
  it('closes the layer unread', async () => {
    let pulled = 0
    const raw = new Readable({
      read() {
        pulled++
        this.push(Buffer.alloc(1024))
      }
    })
    expect(await skipLayerScan(raw)).toEqual({ size: 0, findings: [] })
    expect(raw.destroyed).toBe(true)
    expect(pulled).toBe(0)
  })
})
