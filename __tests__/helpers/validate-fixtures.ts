/**
 * Builds small OCI image layouts for the validator tests. Every blob is written under its real
 * digest after the hooks have changed the documents, so a hook breaks exactly what it changes.
 */
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import * as zlib from 'node:zlib'
import tar from 'tar-stream'
import { sha256, tempDir } from './transports-fixtures.js'

export { sha256 }

export interface TarEntry {
  name: string
  type?: 'file' | 'directory' | 'symlink' | 'link'
  content?: string
  linkname?: string
}

export async function tarOf(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack()
  const chunks: Buffer[] = []
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => void chunks.push(c as Buffer))
    pack.on('end', () => resolve())
    pack.on('error', reject)
  })
  for (const e of entries) {
    const type = e.type ?? 'file'
    const header = {
      name: e.name,
      type,
      linkname: e.linkname,
      mode: type === 'directory' ? 0o755 : 0o644,
      mtime: new Date(0)
    }
    if (type === 'file') pack.entry(header, e.content ?? '')
    else pack.entry(header)
  }
  pack.finalize()
  await done
  return Buffer.concat(chunks)
}

export type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

export interface LayerSpec {
  entries?: TarEntry[]
  /** the uncompressed layer; entries are ignored when set */
  tar?: Buffer
  compression?: 'gzip' | 'zstd' | 'none'
  mediaType?: string
  /** the blob bytes as stored, replacing the compressed tar */
  blob?: Buffer
}

export interface ImageSpec {
  layers?: LayerSpec[]
  config?: (c: Json) => Json | void
  configBytes?: (b: Buffer) => Buffer
  manifest?: (m: Json) => Json | void
  manifestBytes?: (b: Buffer) => Buffer
  /** the descriptor of the manifest in index.json */
  entry?: (d: Json) => Json | void
  index?: (i: Json) => Json | void
  /** wrap the manifest in this many nested indexes */
  nest?: number
}

export interface Built {
  dir: string
  manifest: string
  config: string
  layers: string[]
  diffIds: string[]
  blob(digest: string): string
}

export const DEFAULT_ENTRIES: TarEntry[] = [
  { name: 'etc/', type: 'directory' },
  { name: 'etc/hello', content: 'hello\n' },
  { name: 'bin/', type: 'directory' },
  { name: 'bin/sh', content: '#!/bin/true\n' },
  { name: 'bin/ash', type: 'symlink', linkname: '/bin/sh' },
  { name: 'bin/dash', type: 'link', linkname: 'bin/sh' }
]

function compress(t: Buffer, c: LayerSpec['compression']): Buffer {
  if (c === 'none') return t
  if (c === 'zstd') return zlib.zstdCompressSync(t)
  return zlib.gzipSync(t)
}

const LAYER_TYPES = {
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  none: 'application/vnd.oci.image.layer.v1.tar'
}

async function put(dir: string, data: Buffer): Promise<string> {
  const digest = sha256(data)
  await fs.mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true })
  await fs.writeFile(path.join(dir, 'blobs', 'sha256', digest.slice(7)), data)
  return digest
}

export const tmpDir = (prefix = 'lading-validate-'): Promise<string> => tempDir(prefix)

/** Writes a complete, valid layout unless hooks break it. */
export async function writeLayout(dir: string, spec: ImageSpec = {}): Promise<Built> {
  await fs.mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true })
  await fs.writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }))
  const layerSpecs = spec.layers ?? [{}]
  const layerDescs: Json[] = []
  const diffIds: string[] = []
  for (const l of layerSpecs) {
    const t = l.tar ?? (await tarOf(l.entries ?? DEFAULT_ENTRIES))
    const c = l.compression ?? 'gzip'
    const blob = l.blob ?? compress(t, c)
    const digest = await put(dir, blob)
    layerDescs.push({ mediaType: l.mediaType ?? LAYER_TYPES[c], digest, size: blob.length })
    diffIds.push(sha256(t))
  }
  let config: Json = {
    created: '2024-01-02T03:04:05Z',
    architecture: 'amd64',
    os: 'linux',
    config: {
      Env: ['PATH=/usr/bin:/bin'],
      Cmd: ['/bin/sh'],
      Labels: { 'org.opencontainers.image.title': 'fixture' }
    },
    rootfs: { type: 'layers', diff_ids: [...diffIds] },
    history: layerSpecs.map((_, i) => ({
      created: '2024-01-02T03:04:05Z',
      created_by: `layer ${i}`
    }))
  }
  config = spec.config?.(config) ?? config
  let configBytes = Buffer.from(JSON.stringify(config))
  configBytes = Buffer.from(spec.configBytes?.(configBytes) ?? configBytes)
  const configDigest = await put(dir, configBytes)
  let manifest: Json = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: configDigest,
      size: configBytes.length
    },
    layers: layerDescs,
    annotations: { 'org.opencontainers.image.created': '2024-01-02T03:04:05Z' }
  }
  manifest = spec.manifest?.(manifest) ?? manifest
  let manifestBytes = Buffer.from(JSON.stringify(manifest))
  manifestBytes = Buffer.from(spec.manifestBytes?.(manifestBytes) ?? manifestBytes)
  const manifestDigest = await put(dir, manifestBytes)
  let entry: Json = {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: manifestDigest,
    size: manifestBytes.length,
    platform: { architecture: 'amd64', os: 'linux' },
    annotations: { 'org.opencontainers.image.ref.name': 'latest' }
  }
  for (let i = 0; i < (spec.nest ?? 0); i++) {
    const inner = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [entry]
      })
    )
    entry = {
      mediaType: 'application/vnd.oci.image.index.v1+json',
      digest: await put(dir, inner),
      size: inner.length
    }
  }
  entry = spec.entry?.(entry) ?? entry
  let index: Json = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [entry]
  }
  index = spec.index?.(index) ?? index
  await fs.writeFile(path.join(dir, 'index.json'), JSON.stringify(index))
  return {
    dir,
    manifest: manifestDigest,
    config: configDigest,
    layers: layerDescs.map(d => d.digest as string),
    diffIds,
    blob: (d: string) => path.join(dir, 'blobs', 'sha256', d.slice(7))
  }
}
