/**
 * One case per rule: each case breaks exactly that rule in an otherwise valid document or layout
 * and expects its finding, and nothing else. The last test checks every catalogued rule has one.
 */
import { describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { Readable } from 'node:stream'
import * as zlib from 'node:zlib'
import type { Descriptor } from '../../src/oci/types.js'
import { Layout } from '../../src/transports/layout.js'
import {
  finding,
  checkReferrersList,
  formatReport,
  makeReport,
  rules,
  validateDocument,
  validateImage,
  validateLayout,
  type Finding,
  type ValidateOptions
} from '../../src/validate/index.js'
import { trackedTempDirs } from '../helpers/transports-fixtures.js'
import {
  DEFAULT_ENTRIES,
  sha256,
  tarOf,
  writeLayout,
  type Built,
  type ImageSpec,
  type Json,
  type TarEntry
} from '../helpers/validate-fixtures.js'

const newDir = trackedTempDirs('lading-validate-')

async function layout(
  spec: ImageSpec = {},
  mutate?: (b: Built) => Promise<void>,
  opts?: ValidateOptions
): Promise<Finding[]> {
  const dir = await newDir()
  const b = await writeLayout(dir, spec)
  await mutate?.(b)
  return (await validateLayout(dir, opts)).findings
}

const D = 'sha256:' + 'a'.repeat(64)
const MT = 'application/vnd.oci.image.manifest.v1+json'
const desc = (extra: Json = {}): Json => ({ mediaType: MT, digest: D, size: 10, ...extra })

const manifest = (extra: Json = {}): Json => ({
  schemaVersion: 2,
  mediaType: MT,
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: D, size: 10 },
  layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: D, size: 10 }],
  ...extra
})

const index = (extra: Json = {}): Json => ({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests: [desc({ platform: { architecture: 'arm64', os: 'linux' } })],
  ...extra
})

const config = (extra: Json = {}): Json => ({
  architecture: 'amd64',
  os: 'linux',
  rootfs: { type: 'layers', diff_ids: [D] },
  ...extra
})
const E = 'sha256:' + 'e'.repeat(64)
const ARTIFACT = 'application/spdx+json'
const referrers = (manifests: Json[]): Json => ({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests
})
/** The referrers-list entry of the artifact `listed` gives, with `extra` over it. */
const referrer = (extra: Json = {}): Json =>
  desc({
    digest: E,
    artifactType: ARTIFACT,
    annotations: { 'org.opencontainers.image.title': 'sbom' },
    ...extra
  })
/** An artifact manifest referring to D, by its digest E, as a caller that fetched it passes it. */
const listed = (extra: Json = {}): Map<string, unknown> =>
  new Map([
    [
      E,
      manifest({
        artifactType: ARTIFACT,
        subject: desc(),
        annotations: { 'org.opencontainers.image.title': 'sbom' },
        ...extra
      })
    ]
  ])

const doc = async (kind: Parameters<typeof validateDocument>[0], d: unknown): Promise<Finding[]> =>
  validateDocument(kind, d)

const layerOf = (entries: TarEntry[]): ImageSpec => ({ layers: [{ entries }] })

interface Case {
  rule: string
  name: string
  run: () => Promise<Finding[]>
  /** other rules the same break necessarily triggers */
  also?: string[]
}

const cases: Case[] = [
  // layout
  {
    rule: 'layout-oci-layout',
    name: 'oci-layout missing',
    run: () => layout({}, b => fs.rm(path.join(b.dir, 'oci-layout')))
  },
  {
    rule: 'layout-oci-layout',
    name: 'imageLayoutVersion a number',
    run: () =>
      layout({}, b => fs.writeFile(path.join(b.dir, 'oci-layout'), '{"imageLayoutVersion":1}'))
  },
  {
    rule: 'layout-version',
    name: 'version 2.0.0',
    run: () =>
      layout({}, b =>
        fs.writeFile(path.join(b.dir, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}')
      )
  },
  {
    rule: 'layout-index-json',
    name: 'index.json missing',
    run: () => layout({}, b => fs.rm(path.join(b.dir, 'index.json')))
  },
  {
    rule: 'layout-blobs-dir',
    name: 'blobs missing',
    run: () => layout({}, b => fs.rm(path.join(b.dir, 'blobs'), { recursive: true })),
    also: ['blob-missing']
  },
  {
    rule: 'layout-blob-name',
    name: 'upper-case sha256 name',
    run: () => layout({}, b => fs.writeFile(path.join(b.dir, 'blobs/sha256', 'AB'.repeat(32)), 'x'))
  },
  {
    rule: 'layout-blob-name',
    name: 'bad algorithm directory',
    run: () => layout({}, b => fs.mkdir(path.join(b.dir, 'blobs/SHA+')))
  },
  // JSON
  {
    rule: 'json-invalid',
    name: 'truncated manifest',
    run: () => layout({ manifestBytes: b => b.subarray(0, b.length - 1) })
  },
  {
    rule: 'json-invalid',
    name: 'manifest with a UTF-8 byte order mark',
    run: () => layout({ manifestBytes: b => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), b]) })
  },
  {
    rule: 'json-integer',
    name: 'schemaVersion 2.0',
    run: () =>
      layout({
        manifestBytes: b =>
          Buffer.from(b.toString().replace('"schemaVersion":2', '"schemaVersion":2.0'))
      })
  },
  {
    rule: 'json-integer',
    name: 'config size with an exponent',
    run: () =>
      layout({
        manifestBytes: b => Buffer.from(b.toString().replace(/"size":(\d+)/, '"size":$1e0'))
      })
  },
  {
    rule: 'json-too-large',
    name: 'manifest padded past 4 MiB with whitespace',
    run: () =>
      layout({ manifestBytes: b => Buffer.concat([b, Buffer.alloc(4 * 1024 * 1024 + 1, 0x20)]) })
  },
  {
    rule: 'json-too-deep',
    name: 'manifest nested 10,000 arrays deep',
    run: () => layout({ manifestBytes: () => Buffer.from('['.repeat(10_000) + ']'.repeat(10_000)) })
  },
  {
    rule: 'json-too-deep',
    name: 'config with a member nested 10,000 objects deep',
    run: () =>
      layout({
        configBytes: b =>
          Buffer.from(
            `{"x":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)},${b.toString().slice(1)}`
          )
      })
  },
  {
    rule: 'json-too-deep',
    name: 'index.json nested 10,000 arrays deep',
    run: () =>
      layout({}, b =>
        fs.writeFile(path.join(b.dir, 'index.json'), '['.repeat(10_000) + ']'.repeat(10_000))
      )
  },
  {
    rule: 'json-too-deep',
    name: 'a document given as text, one level past the limit',
    run: () => doc('config', `{"a":${'['.repeat(64)}${']'.repeat(64)}}`)
  },
  {
    rule: 'json-not-object',
    name: 'manifest is an array',
    run: () => layout({ manifestBytes: () => Buffer.from('[]') })
  },
  {
    rule: 'json-duplicate-key',
    name: 'schemaVersion twice',
    run: () =>
      layout({ manifestBytes: b => Buffer.from(b.toString().replace('{', '{"schemaVersion":2,')) })
  },
  {
    rule: 'json-not-utf8',
    name: 'latin-1 author',
    run: () =>
      layout({
        configBytes: b =>
          Buffer.concat([
            Buffer.from('{"author":"'),
            Buffer.from([0xe9]),
            Buffer.from('",'),
            b.subarray(1)
          ])
      })
  },
  {
    rule: 'json-number-precision',
    name: 'integer beyond 2^53',
    run: () =>
      layout({ configBytes: b => Buffer.from(b.toString().replace('{', '{"x":9007199254740993,')) })
  },
  // descriptors
  {
    rule: 'descriptor-mediatype',
    name: 'missing',
    run: () => doc('descriptor', { digest: D, size: 1 })
  },
  {
    rule: 'descriptor-mediatype',
    name: 'no subtype',
    run: () => doc('descriptor', desc({ mediaType: 'application' }))
  },
  {
    rule: 'descriptor-digest',
    name: 'no algorithm',
    run: () => doc('descriptor', desc({ digest: ':abc' }))
  },
  {
    rule: 'descriptor-digest-encoding',
    name: 'upper-case hex',
    run: () => doc('descriptor', desc({ digest: D.toUpperCase().replace('SHA256', 'sha256') }))
  },
  {
    rule: 'descriptor-digest-encoding',
    name: 'short sha512',
    run: () => doc('descriptor', desc({ digest: 'sha512:' + 'a'.repeat(64) }))
  },
  {
    rule: 'descriptor-digest-unregistered',
    name: 'layer digest sha256+b64 in a layout',
    run: () =>
      layout({
        manifest: m =>
          void (m.layers[0].digest = 'sha256+b64:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564')
      })
  },
  {
    rule: 'descriptor-size',
    name: 'string size',
    run: () => doc('descriptor', desc({ size: '10' }))
  },
  {
    rule: 'descriptor-size',
    name: 'missing size',
    run: () => doc('descriptor', { mediaType: MT, digest: D })
  },
  {
    rule: 'descriptor-size-negative',
    name: 'negative size',
    run: () => doc('descriptor', desc({ size: -1 }))
  },
  {
    rule: 'descriptor-urls',
    name: 'not a URI',
    run: () => doc('descriptor', desc({ urls: ['value'] }))
  },
  {
    rule: 'descriptor-urls-scheme',
    name: 'ftp',
    run: () => doc('descriptor', desc({ urls: ['ftp://example.com/x'] }))
  },
  {
    rule: 'descriptor-data',
    name: 'unpadded base64',
    run: () =>
      doc(
        'descriptor',
        desc({ mediaType: 'text/plain', data: 'e30', size: 2, digest: sha256('{}') })
      )
  },
  {
    rule: 'descriptor-data-mismatch',
    name: 'data of other content',
    run: () =>
      doc(
        'descriptor',
        desc({
          mediaType: 'text/plain',
          data: Buffer.from('[]').toString('base64'),
          size: 2,
          digest: sha256('{}')
        })
      )
  },
  {
    rule: 'descriptor-artifacttype',
    name: 'bad artifactType',
    run: () => doc('descriptor', desc({ artifactType: 'foo/.bar' }))
  },
  {
    rule: 'descriptor-empty',
    name: 'empty type with other digest',
    run: () => doc('descriptor', desc({ mediaType: 'application/vnd.oci.empty.v1+json', size: 2 }))
  },
  {
    rule: 'descriptor-mediatype-mismatch',
    name: 'index.json calls an OCI manifest a Docker manifest',
    run: () =>
      layout({
        entry: e => void (e.mediaType = 'application/vnd.docker.distribution.manifest.v2+json')
      })
  },
  // annotations
  {
    rule: 'annotations-type',
    name: 'number value',
    run: () => doc('manifest', manifest({ annotations: { 'com.example.n': 1 } }))
  },
  {
    rule: 'annotations-type',
    name: 'Labels number value',
    run: () => doc('config', config({ config: { Labels: { a: 1 } } }))
  },
  {
    rule: 'annotation-created',
    name: 'created not RFC 3339',
    run: () =>
      doc(
        'manifest',
        manifest({ annotations: { 'org.opencontainers.image.created': '2024-01-02 03:04' } })
      )
  },
  {
    rule: 'annotation-created',
    name: 'created on April 31',
    run: () =>
      doc(
        'manifest',
        manifest({ annotations: { 'org.opencontainers.image.created': '2024-04-31T00:00:00Z' } })
      )
  },
  {
    rule: 'annotation-base-digest',
    name: 'base.digest not a digest',
    run: () =>
      doc(
        'manifest',
        manifest({ annotations: { 'org.opencontainers.image.base.digest': 'sha256:xyz!' } })
      )
  },
  {
    rule: 'annotation-ref-name',
    name: 'ref.name with a space',
    run: () =>
      layout({ entry: e => void (e.annotations['org.opencontainers.image.ref.name'] = 'v1 beta') })
  },
  {
    rule: 'annotation-reserved-key',
    name: 'made-up OCI key',
    run: () =>
      doc('manifest', manifest({ annotations: { 'org.opencontainers.image.colour': 'red' } }))
  },
  {
    rule: 'annotation-reserved-key',
    name: 'made-up key under org.opencontainers. outside .image.',
    run: () => doc('manifest', manifest({ annotations: { 'org.opencontainers.colour': 'red' } }))
  },
  {
    rule: 'annotation-key-empty',
    name: 'empty key',
    run: () => doc('manifest', manifest({ annotations: { '': 'x' } }))
  },
  // manifests and indexes
  {
    rule: 'manifest-schema-version',
    name: 'schemaVersion 1',
    run: () => doc('manifest', manifest({ schemaVersion: 1 }))
  },
  {
    rule: 'manifest-mediatype',
    name: 'index media type in a manifest',
    run: () => doc('manifest', manifest({ mediaType: 'application/vnd.oci.image.index.v1+json' }))
  },
  {
    rule: 'manifest-config',
    name: 'config missing',
    run: () => doc('manifest', manifest({ config: undefined }))
  },
  {
    rule: 'manifest-layers',
    name: 'layers an object',
    run: () => doc('manifest', manifest({ layers: {} }))
  },
  {
    rule: 'manifest-layers-empty',
    name: 'no layers',
    run: () => doc('manifest', manifest({ layers: [] }))
  },
  {
    rule: 'manifest-artifacttype',
    name: 'bad artifactType',
    run: () => doc('manifest', manifest({ artifactType: 'nope' }))
  },
  {
    rule: 'manifest-artifacttype-missing',
    name: 'empty config without artifactType',
    run: () =>
      doc(
        'manifest',
        manifest({
          config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256('{}'), size: 2 }
        })
      )
  },
  {
    rule: 'manifest-layer-mediatype',
    name: 'image layer of type text/plain',
    run: () => layout({ manifest: m => void (m.layers[0].mediaType = 'text/plain') }),
    also: ['config-diff-id-mismatch']
  },
  {
    rule: 'manifest-subject',
    name: 'subject a string',
    run: () => doc('manifest', manifest({ subject: 'nope' }))
  },
  {
    rule: 'subject-mediatype',
    name: 'subject a layer',
    run: () =>
      doc(
        'manifest',
        manifest({
          subject: { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: D, size: 10 }
        })
      )
  },
  // referrers lists
  {
    rule: 'referrers-index',
    name: 'fallback tag holds an index without mediaType',
    run: async () => checkReferrersList({ schemaVersion: 2, manifests: [] }, D, 'tag')
  },
  {
    rule: 'referrers-index',
    name: 'a layer listed as a referrer',
    run: async () =>
      checkReferrersList(
        referrers([desc({ mediaType: 'application/vnd.oci.image.layer.v1.tar' })]),
        D,
        'tag'
      )
  },
  {
    rule: 'referrers-subject',
    name: 'a listed manifest refers to another image',
    run: async () =>
      checkReferrersList(
        referrers([referrer()]),
        D,
        'tag',
        listed({ subject: desc({ digest: E }) })
      )
  },
  {
    rule: 'referrers-artifacttype',
    name: 'entry without the artifactType of the manifest',
    run: async () =>
      checkReferrersList(referrers([referrer({ artifactType: undefined })]), D, 'tag', listed())
  },
  {
    rule: 'referrers-artifacttype',
    name: 'no artifactType anywhere: the config media type is due',
    run: async () =>
      checkReferrersList(
        referrers([referrer({ artifactType: 'application/x' })]),
        D,
        'tag',
        listed({ artifactType: undefined })
      )
  },
  {
    rule: 'referrers-annotations',
    name: "entry without the manifest's annotations",
    run: async () =>
      checkReferrersList(referrers([referrer({ annotations: undefined })]), D, 'tag', listed())
  },
  {
    rule: 'mediatype-docker',
    name: 'Docker manifest media type',
    run: () =>
      doc(
        'manifest',
        manifest({ mediaType: 'application/vnd.docker.distribution.manifest.v2+json' })
      )
  },
  {
    rule: 'index-schema-version',
    name: 'schemaVersion "2"',
    run: () => doc('index', index({ schemaVersion: '2' }))
  },
  {
    rule: 'index-mediatype',
    name: 'manifest type in an index',
    run: () => doc('index', index({ mediaType: MT }))
  },
  {
    rule: 'index-manifests',
    name: 'manifests missing',
    run: () => doc('index', index({ manifests: undefined }))
  },
  {
    rule: 'index-cycle',
    name: 'an index blob that lists itself',
    run: () =>
      layout({}, async b => {
        // Content addressing makes a real loop impossible unless a blob lies about its digest.
        const fake = sha256('not this content')
        const self = (n: number): string =>
          JSON.stringify({
            schemaVersion: 2,
            mediaType: 'application/vnd.oci.image.index.v1+json',
            manifests: [
              { mediaType: 'application/vnd.oci.image.index.v1+json', digest: fake, size: n }
            ]
          })
        const body = self(self(0).length)
        await fs.writeFile(b.blob(fake), body)
        await fs.writeFile(path.join(b.dir, 'index.json'), self(body.length))
      }),
    also: ['blob-digest-mismatch']
  },
  { rule: 'index-depth', name: '18 nested indexes', run: () => layout({ nest: 18 }) },
  {
    rule: 'platform-required',
    name: 'architecture missing',
    run: () => doc('index', index({ manifests: [desc({ platform: { os: 'linux' } })] }))
  },
  {
    rule: 'platform-type',
    name: 'os.features a string',
    run: () =>
      doc(
        'index',
        index({
          manifests: [
            desc({ platform: { os: 'linux', architecture: 'amd64', 'os.features': 'x' } })
          ]
        })
      )
  },
  {
    rule: 'platform-features-reserved',
    name: 'features set',
    run: () =>
      doc(
        'index',
        index({
          manifests: [
            desc({ platform: { os: 'linux', architecture: 'amd64', features: ['sse4'] } })
          ]
        })
      )
  },
  {
    rule: 'platform-mismatch',
    name: 'index says arm64, config amd64',
    run: () => layout({ entry: e => void (e.platform.architecture = 'arm64') })
  },
  // configs
  { rule: 'config-required', name: 'os a number', run: () => doc('config', config({ os: 123 })) },
  {
    rule: 'config-required',
    name: 'rootfs missing',
    run: () => doc('config', config({ rootfs: undefined }))
  },
  {
    rule: 'config-field-type',
    name: 'Volumes an array',
    run: () => doc('config', config({ config: { Volumes: ['/data'] } }))
  },
  {
    rule: 'config-field-type',
    name: 'history a string',
    run: () => doc('config', config({ history: 'x' }))
  },
  {
    rule: 'config-rootfs-type',
    name: 'rootfs.type layer',
    run: () => doc('config', config({ rootfs: { type: 'layer', diff_ids: [] } }))
  },
  {
    rule: 'config-diff-ids',
    name: 'one diff_id too few',
    run: () => layout({ config: c => void c.rootfs.diff_ids.pop() })
  },
  {
    rule: 'config-diff-ids',
    name: 'diff_id not a digest',
    run: () => doc('config', config({ rootfs: { type: 'layers', diff_ids: ['sha256:x'] } }))
  },
  {
    rule: 'config-diff-id-mismatch',
    name: 'diff_id of other content',
    run: () => layout({ config: c => void (c.rootfs.diff_ids[0] = D) })
  },
  {
    rule: 'config-created',
    name: 'created without time zone',
    run: () => doc('config', config({ created: '2024-01-02T03:04:05' }))
  },
  {
    rule: 'config-created',
    name: 'created on February 30',
    run: () => doc('config', config({ created: '2023-02-30T00:00:00Z' }))
  },
  {
    rule: 'config-created',
    name: 'history created on 2023-02-29 (not a leap year)',
    run: () => doc('config', config({ history: [{ created: '2023-02-29T00:00:00Z' }] }))
  },
  {
    rule: 'config-env',
    name: 'Env entry without =',
    run: () => doc('config', config({ config: { Env: ['foo'] } }))
  },
  {
    rule: 'config-history-layers',
    name: 'one history entry too many',
    run: () => layout({ config: c => void c.history.push({ created_by: 'x' }) })
  },
  // layers
  {
    rule: 'layer-compression-mismatch',
    name: 'gzip type, plain tar',
    run: () =>
      layout({
        layers: [{ compression: 'none', mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }]
      })
  },
  {
    rule: 'layer-compression-mismatch',
    name: 'tar type, zstd content',
    run: () =>
      layout({
        layers: [{ compression: 'zstd', mediaType: 'application/vnd.oci.image.layer.v1.tar' }]
      })
  },
  {
    rule: 'layer-decompress',
    name: 'gzip header then garbage',
    run: () =>
      layout({
        layers: [
          {
            blob: Buffer.concat([
              zlib.gzipSync(Buffer.alloc(4096)).subarray(0, 12),
              Buffer.alloc(64, 0x55)
            ])
          }
        ]
      })
  },
  {
    rule: 'layer-compression-trailing',
    name: 'gzip member followed by 1 KiB of zeros',
    run: () =>
      tarOf(DEFAULT_ENTRIES).then(t =>
        layout({
          layers: [{ tar: t, blob: Buffer.concat([zlib.gzipSync(t), Buffer.alloc(1024)]) }]
        })
      )
  },
  {
    rule: 'layer-compression-trailing',
    name: 'zstd frame followed by 1 KiB of zeros',
    run: () =>
      tarOf(DEFAULT_ENTRIES).then(t =>
        layout({
          layers: [
            {
              tar: t,
              compression: 'zstd',
              blob: Buffer.concat([zlib.zstdCompressSync(t), Buffer.alloc(1024)])
            }
          ]
        })
      )
  },
  {
    rule: 'layer-tar',
    name: 'gzip of text',
    run: () => layout({ layers: [{ tar: Buffer.from('not a tar archive\n'.repeat(64)) }] })
  },
  {
    rule: 'layer-tar',
    name: 'tar truncated mid-file',
    run: () =>
      tarOf([{ name: 'a', content: 'x'.repeat(5000) }]).then(t =>
        layout({ layers: [{ tar: t.subarray(0, 1536) }] })
      )
  },
  {
    rule: 'layer-tar-unterminated',
    name: 'tar cut right after the last file data',
    run: () =>
      tarOf([{ name: 'a', content: 'xy' }]).then(t =>
        layout({ layers: [{ tar: t.subarray(0, 514) }] })
      )
  },
  {
    rule: 'layer-tar-trailing',
    name: 'a second tar after the end-of-archive marker (its duplicate entry is not checked)',
    run: async () => {
      const t = await tarOf([{ name: 'a', content: 'x' }])
      return layout({ layers: [{ tar: Buffer.concat([t, t]) }] })
    }
  },
  {
    rule: 'layer-duplicate-path',
    name: 'etc/hello twice',
    run: () => layout(layerOf([{ name: 'etc/hello' }, { name: './etc/hello' }]))
  },
  {
    rule: 'layer-path-escapes',
    name: '../escape',
    run: () => layout(layerOf([{ name: 'a/../../escape' }]))
  },
  {
    rule: 'layer-path-escapes',
    name: 'through a symlink that climbs out',
    run: () =>
      layout(
        layerOf([{ name: 'etc', type: 'symlink', linkname: '../etc' }, { name: 'etc/passwd' }])
      )
  },
  {
    rule: 'layer-path-escapes',
    name: 'through a chain of symlinks that climbs out',
    run: () =>
      layout(
        layerOf([
          { name: 'usr/', type: 'directory' },
          { name: 'usr/lib', type: 'symlink', linkname: '../../x' },
          { name: 'lib', type: 'symlink', linkname: 'usr/lib' },
          { name: 'lib/libc.so' }
        ])
      )
  },
  {
    rule: 'layer-path-too-long',
    name: 'a path of 4097 bytes',
    run: () => layout(layerOf([{ name: 'p/'.repeat(2048) + 'p' }]))
  },
  {
    rule: 'layer-name-too-long',
    name: 'a name of 256 bytes',
    run: () => layout(layerOf([{ name: 'n'.repeat(256) }]))
  },
  {
    rule: 'layer-path-unchecked',
    name: 'a chain of 40 long symlinks resolved 60 times',
    run: () =>
      layout(
        layerOf([
          ...Array.from({ length: 40 }, (_, i) => ({
            name: `s${i}`,
            type: 'symlink' as const,
            linkname: i < 39 ? './'.repeat(2040) + `s${i + 1}` : 'd'
          })),
          ...Array.from({ length: 60 }, (_, i) => ({ name: `s0/f${i}` }))
        ])
      )
  },
  {
    rule: 'layer-link-escapes',
    name: 'hardlink through a symlink that climbs out',
    run: () =>
      layout(
        layerOf([
          { name: 'up', type: 'symlink', linkname: '../..' },
          { name: 'x', type: 'link', linkname: 'up/etc/shadow' }
        ])
      )
  },
  {
    rule: 'layer-hardlink-target',
    name: 'absolute hardlink',
    run: () =>
      layout(
        layerOf([
          { name: 'etc/', type: 'directory' },
          { name: 'etc/passwd' },
          { name: 'passwd', type: 'link', linkname: '/etc/passwd' }
        ])
      )
  },
  {
    rule: 'layer-hardlink-target',
    name: 'hardlink to a later entry',
    run: () => layout(layerOf([{ name: 'x', type: 'link', linkname: 'y' }, { name: 'y' }]))
  },
  {
    rule: 'layer-hardlink-target',
    name: 'hardlink to itself',
    run: () => layout(layerOf([{ name: 'x', type: 'link', linkname: './x' }]))
  },
  {
    rule: 'layer-hardlink',
    name: 'hardlink to a directory',
    run: () =>
      layout(
        layerOf([
          { name: 'd/', type: 'directory' },
          { name: 'x', type: 'link', linkname: 'd' }
        ])
      )
  },
  {
    rule: 'layer-link-escapes',
    name: 'hardlink through ..',
    run: () => layout(layerOf([{ name: 'x', type: 'link', linkname: '../x' }]))
  },
  {
    rule: 'layer-whiteout',
    name: 'whiteout of something in the same layer',
    run: () => layout(layerOf([{ name: 'a' }, { name: '.wh.a' }]))
  },
  {
    rule: 'layer-whiteout',
    name: 'whiteout directory',
    run: () => layout(layerOf([{ name: 'd/.wh.x', type: 'directory' }]))
  },
  {
    rule: 'layer-whiteout',
    name: 'whiteout with data',
    run: () => layout(layerOf([{ name: 'd/.wh.x', content: 'data' }]))
  },
  {
    rule: 'layer-whiteout',
    name: 'whiteout symlink',
    run: () => layout(layerOf([{ name: 'd/.wh.x', type: 'symlink', linkname: 'x' }]))
  },
  {
    rule: 'layer-whiteout',
    name: 'opaque marker as a directory',
    run: () => layout(layerOf([{ name: 'd/.wh..wh..opq', type: 'directory' }]))
  },
  {
    rule: 'layer-whiteout-meta',
    name: 'aufs .wh..wh.plnk directory and .wh..wh.aufs file',
    run: () =>
      layout(layerOf([{ name: '.wh..wh.plnk/', type: 'directory' }, { name: '.wh..wh.aufs' }]))
  },
  {
    rule: 'layer-whiteout',
    name: 'whiteout of ..',
    run: () => layout(layerOf([{ name: 'd/.wh...' }]))
  },
  {
    rule: 'layer-whiteout-bare',
    name: 'bare .wh.',
    run: () => layout(layerOf([{ name: 'd/.wh.' }]))
  },
  // blobs
  {
    rule: 'blob-missing',
    name: 'layer deleted',
    run: () => layout({}, b => fs.rm(b.blob(b.layers[0])))
  },
  {
    rule: 'blob-missing',
    name: 'foreign layer with urls, even when all are required',
    run: () =>
      layout(
        { manifest: m => void (m.layers[0].urls = ['https://example.com/l']) },
        b => fs.rm(b.blob(b.layers[0])),
        { requireAllBlobs: true }
      )
  },
  {
    rule: 'blob-missing-required',
    name: 'layer deleted, all required',
    run: () => layout({}, b => fs.rm(b.blob(b.layers[0])), { requireAllBlobs: true })
  },
  {
    rule: 'blob-not-downloaded',
    name: 'layer absent on purpose',
    run: async () => {
      let digest = ''
      return layout(
        {},
        async b => {
          digest = b.layers[0]
          await fs.rm(b.blob(digest))
        },
        {
          get notDownloaded() {
            return new Set([digest])
          }
        }
      )
    }
  },
  {
    rule: 'blob-unreadable',
    name: 'read fails mid-blob',
    run: async () => {
      const dir = await newDir()
      const b = await writeLayout(dir)
      const inner = new Layout(dir)
      // A disk cannot be made to fail on demand; this reader fails the layer read half-way.
      const failing = {
        name: 'oci:failing',
        has: (d: Descriptor) => inner.has(d),
        read: (d: Descriptor) => inner.read(d),
        open: async (d: Descriptor) => {
          if (d.digest !== b.layers[0]) return inner.open(d)
          const head = (await fs.readFile(b.blob(d.digest))).subarray(0, 100)
          return Readable.from(
            (async function* () {
              yield head
              throw new Error('EIO: i/o error')
            })()
          )
        }
      }
      const idx = JSON.parse(await fs.readFile(path.join(dir, 'index.json'), 'utf8'))
      return validateImage(failing, idx.manifests[0])
    }
  },
  {
    rule: 'blob-digest-mismatch',
    name: 'a byte of the layer changed',
    run: () =>
      layout({}, async b => {
        const f = await fs.readFile(b.blob(b.layers[0]))
        f[f.length - 1] ^= 1
        await fs.writeFile(b.blob(b.layers[0]), f)
      }),
    also: ['layer-decompress']
  },
  {
    rule: 'source-unreadable',
    name: 'made by the engine through finding',
    run: async () => [
      finding('source-unreadable', 'oci:/nonexistent', 'the source could not be opened')
    ]
  },
  {
    rule: 'blob-digest-mismatch',
    name: 'an unreferenced blob whose content does not match its name',
    run: () => layout({}, b => fs.writeFile(b.blob(sha256('other')), 'not other'))
  },
  {
    rule: 'blob-size-mismatch',
    name: 'config size off by one',
    run: () => layout({ manifest: m => void (m.config.size += 1) })
  }
]

describe('validator rules', () => {
  it('accepts the valid fixture (gzip, zstd and plain layers) with no finding at all', async () => {
    const f = await layout({
      layers: [
        {},
        { compression: 'zstd' },
        { compression: 'none', entries: [{ name: 'x/.wh.y' }, { name: 'z/.wh..wh..opq' }] }
      ]
    })
    expect(f).toEqual([])
  })

  it('tolerates extra files: a carried docker manifest.json, unknown files and unreferenced blobs', async () => {
    const f = await layout({}, async b => {
      await fs.writeFile(
        path.join(b.dir, 'manifest.json'),
        JSON.stringify([{ Config: 'x', RepoTags: ['a:b'], Layers: [] }])
      )
      await fs.writeFile(path.join(b.dir, 'README'), 'not part of the layout')
      await fs.writeFile(b.blob(sha256('unreferenced')), 'unreferenced')
    })
    expect(f).toEqual([])
  })

  for (const c of cases)
    it(`${c.rule}: ${c.name}`, async () => {
      const findings = await c.run()
      const hit = findings.filter(f => f.rule === c.rule)
      expect(hit.length).toBeGreaterThan(0)
      for (const f of hit) {
        expect(f.location).not.toBe('')
        expect(f.spec).toMatch(
          /^https:\/\/github\.com\/opencontainers\/(image|distribution)-spec\/blob\/(v1\.1\.1|main)\/[a-z-]+\.md(#|$)/
        )
      }
      const others = [...new Set(findings.map(f => f.rule))].filter(
        r => r !== c.rule && !(c.also ?? []).includes(r)
      )
      expect(others).toEqual([])
    })

  it('has a case for every catalogued rule, and only catalogued rules', () => {
    const covered = new Set(cases.map(c => c.rule))
    expect(rules.map(r => r.id).filter(id => !covered.has(id))).toEqual([])
    expect([...covered].filter(id => !rules.some(r => r.id === id))).toEqual([])
    expect(new Set(rules.map(r => r.id)).size).toBe(rules.length)
  })

  it('negative size: a warning in a document, an error against the blob', async () => {
    const f = await layout({ manifest: m => void (m.config.size = -1) })
    expect(f.map(x => [x.rule, x.severity])).toEqual([
      ['descriptor-size-negative', 'warning'],
      ['blob-size-mismatch', 'error']
    ])
  })

  it.each([['docs', 'rules.md']])(
    'lists every rule with its severity and spec in %s',
    async (...parts: string[]) => {
      const md = await fs.readFile(
        path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', ...parts),
        'utf8'
      )
      for (const r of rules)
        expect(md).toContain(
          `| \`${r.id}\` | ${r.severity} | ${r.summary.replace(/\|/g, '\\|')} | [`
        )
      for (const r of rules) expect(md).toContain(`](${r.spec})`)
    }
  )

  it('names what and where in its locations', async () => {
    const f = await layout(layerOf([{ name: 'etc/passwd' }, { name: 'etc/passwd' }]))
    expect(f[0].location).toMatch(/^layer sha256:[0-9a-f]{12}… entry "etc\/passwd"$/)
    const g = await layout({ manifest: m => void (m.layers[0].size += 1) })
    expect(g[0].location).toMatch(/^blobs\/sha256\/[0-9a-f]{12}… \(manifest\) layers\[0\]$/)
  })

  it("names ten of the manifest's annotations a referrers entry lacks at most", async () => {
    const annotations = Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`k${i}`, 'v']))
    const found = await checkReferrersList(
      referrers([referrer({ annotations: {} })]),
      D,
      'tag',
      listed({ annotations })
    )
    const lacks = found.find(f => f.rule === 'referrers-annotations')
    expect(lacks?.message).toMatch(
      /lacks the manifest's annotation\(s\) "k0", "k1", .*"k9" and 15 more$/
    )
  })

  it('makes and formats reports', () => {
    const f: Finding[] = [
      { rule: 'a', severity: 'warning', message: 'm', location: 'l', spec: 's' },
      { rule: 'b', severity: 'error', message: 'n', location: 'k', spec: 's' }
    ]
    expect(makeReport(f)).toMatchObject({ valid: false, errors: 1, warnings: 1 })
    expect(makeReport(f.slice(0, 1))).toMatchObject({ valid: true, errors: 0, warnings: 1 })
    expect(makeReport(f.slice(0, 1), 'warning').valid).toBe(false)
    // fail-on never does not make errors valid; only the caller decides not to fail the step
    expect(makeReport(f, 'never')).toMatchObject({ valid: false, errors: 1, warnings: 1 })
    expect(makeReport(f.slice(0, 1), 'never').valid).toBe(true)
    expect(makeReport(f.slice(1), 'warning').valid).toBe(false)
    expect(formatReport(makeReport(f)).split('\n')).toEqual([
      'warning a  l: m',
      'error   b  k: n',
      'invalid: 1 error, 1 warning'
    ])
  })
})

describe('attestation manifests', () => {
  it('in-toto layers under an image config are not a layer media type warning', async () => {
    const m = manifest()
    ;(m.layers as Json[])[0] = {
      ...(m.layers as Json[])[0],
      mediaType: 'application/vnd.in-toto+json'
    }
    expect((await doc('manifest', m)).map(f => f.rule)).not.toContain('manifest-layer-mediatype')
    ;(m.layers as Json[])[0] = { ...(m.layers as Json[])[0], mediaType: 'text/plain' }
    expect((await doc('manifest', m)).map(f => f.rule)).toContain('manifest-layer-mediatype')
  })
})

describe('dedupeFindings', () => {
  it('finding takes severity and spec from the catalogue and rejects unknown rules', () => {
    expect(finding('source-unreadable', 'oci:/nope', 'no such directory')).toEqual({
      rule: 'source-unreadable',
      severity: 'error',
      location: 'oci:/nope',
      message: 'no such directory',
      spec: 'https://github.com/opencontainers/image-spec/blob/v1.1.1/image-layout.md'
    })
    expect(() => finding('no-such-rule', 'x', 'y')).toThrow(/unknown validation rule/)
  })
})
