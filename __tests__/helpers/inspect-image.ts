/**
 * Images for the inspect tests, written by hand into an OCI layout: a config with every field
 * inspect shows, one image per platform and, on request, what buildx and artifact tools add to an
 * index (an attestation manifest, an artifact). Everything is returned, so a test can push it.
 */
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { gzipSync } from 'node:zlib'
import { makeTar, sha256 } from './transports-fixtures.js'
import type { Descriptor } from '../../src/oci/types.js'

export const LONG_VALUE = 'v'.repeat(300)

export interface FixtureImage {
  platform: string
  manifest: Descriptor
  manifestBytes: Buffer
  configBytes: Buffer
  layers: Descriptor[]
  diffIds: string[]
}

export interface InspectFixture {
  dir: string
  ref: string
  root: Descriptor
  rootBytes: Buffer
  images: FixtureImage[]
  /** Every manifest and index, by digest (for a push). */
  manifests: Map<string, { descriptor: Descriptor; bytes: Buffer }>
  /** Every config and layer. */
  blobs: Descriptor[]
}

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json'

export async function writeInspectLayout(
  dir: string,
  opts: { platforms: string[]; extras?: boolean; ref?: string }
): Promise<InspectFixture> {
  const ref = opts.ref ?? 'latest'
  const manifests: InspectFixture['manifests'] = new Map()
  const blobs: Descriptor[] = []
  await fs.mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true })
  const blob = async (mediaType: string, data: Buffer): Promise<Descriptor> => {
    const digest = sha256(data)
    await fs.writeFile(path.join(dir, 'blobs', 'sha256', digest.slice(7)), data)
    return { mediaType, digest, size: data.length }
  }
  const document = async (body: object): Promise<{ descriptor: Descriptor; bytes: Buffer }> => {
    const bytes = Buffer.from(JSON.stringify(body))
    const descriptor = await blob((body as { mediaType: string }).mediaType, bytes)
    manifests.set(descriptor.digest, { descriptor, bytes })
    return { descriptor, bytes }
  }
  const images: FixtureImage[] = []
  for (const platform of opts.platforms) {
    const [os, architecture, variant] = platform.split('/')
    const tars = [
      await makeTar([{ name: 'etc/motd', content: `hello ${platform}\n` }]),
      await makeTar([{ name: 'app/run', content: `#!/bin/sh\necho ${platform}\n` }])
    ]
    const layers: Descriptor[] = []
    for (const t of tars)
      layers.push(await blob('application/vnd.oci.image.layer.v1.tar+gzip', gzipSync(t)))
    const diffIds = tars.map(t => sha256(t))
    const config = {
      created: '2024-05-06T07:08:09Z',
      author: 'inspect tests',
      architecture,
      os,
      ...(variant ? { variant } : {}),
      config: {
        User: '1000:1000',
        ExposedPorts: { '8080/tcp': {}, '53/udp': {} },
        Env: ['PATH=/usr/bin:/bin', `LONG=${LONG_VALUE}`],
        Entrypoint: ['/app/run'],
        Cmd: ['--serve', 'all'],
        WorkingDir: '/app',
        Labels: { 'org.opencontainers.image.title': 'demo', multiline: 'one\ntwo' },
        StopSignal: 'SIGTERM'
      },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: tars.map(() => ({ created_by: 'inspect tests' }))
    }
    const configBytes = Buffer.from(JSON.stringify(config, null, 2))
    const configDesc = await blob(OCI_CONFIG, configBytes)
    blobs.push(configDesc, ...layers)
    const m = await document({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: configDesc,
      layers,
      annotations: { 'org.opencontainers.image.source': 'https://example.com/demo' }
    })
    images.push({
      platform,
      manifest: {
        ...m.descriptor,
        platform: { os, architecture, ...(variant ? { variant } : {}) }
      },
      manifestBytes: m.bytes,
      configBytes,
      layers,
      diffIds
    })
  }
  const entries = images.map(i => i.manifest)
  if (opts.extras) entries.push(...(await extraEntries(blob, document, blobs, images[0])))
  let root: { descriptor: Descriptor; bytes: Buffer }
  if (entries.length === 1)
    root = { descriptor: images[0].manifest, bytes: images[0].manifestBytes }
  else root = await document({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries })
  const top: Descriptor = { ...root.descriptor }
  delete top.platform
  await fs.writeFile(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
  await fs.writeFile(
    path.join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{ ...top, annotations: { 'org.opencontainers.image.ref.name': ref } }]
    })
  )
  return { dir, ref, root: top, rootBytes: root.bytes, images, manifests, blobs }
}

/** What buildx adds beside each image (an attestation) and what an artifact tool adds. */
async function extraEntries(
  blob: (mediaType: string, data: Buffer) => Promise<Descriptor>,
  document: (body: object) => Promise<{ descriptor: Descriptor }>,
  blobs: Descriptor[],
  attested: FixtureImage
): Promise<Descriptor[]> {
  const statement = await blob('application/vnd.in-toto+json', Buffer.from('{"_type":"x"}'))
  const attestationConfig = await blob(
    OCI_CONFIG,
    Buffer.from('{"architecture":"unknown","os":"unknown","rootfs":{"type":"layers"}}')
  )
  const empty = await blob('application/vnd.oci.empty.v1+json', Buffer.from('{}'))
  const sbom = await blob('application/spdx+json', Buffer.from('{"spdxVersion":"SPDX-2.3"}'))
  blobs.push(statement, attestationConfig, empty, sbom)
  const attestation = await document({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: attestationConfig,
    layers: [statement]
  })
  const artifact = await document({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: 'application/spdx+json',
    config: empty,
    layers: [sbom]
  })
  return [
    {
      ...attestation.descriptor,
      platform: { os: 'unknown', architecture: 'unknown' },
      annotations: {
        'vnd.docker.reference.type': 'attestation-manifest',
        'vnd.docker.reference.digest': attested.manifest.digest
      }
    },
    { ...artifact.descriptor, artifactType: 'application/spdx+json' }
  ]
}
