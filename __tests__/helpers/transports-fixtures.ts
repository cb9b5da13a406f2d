/** Test helpers for the transport tests: tiny images made at runtime, read back independently. */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import * as fs from 'node:fs/promises'
import * as os from 'node:os'
import * as path from 'node:path'
import { promisify } from 'node:util'
import { gzipSync } from 'node:zlib'
import { afterAll } from '@jest/globals'
import * as tar from 'tar-stream'
import type { ImageSource } from '../../src/oci/blobs.js'
import type { Descriptor, ImageConfig, Manifest } from '../../src/oci/types.js'

export const exec = promisify(execFile)

export function sha256(b: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex')
}

export interface TempDirs {
  /** A new empty temp dir under os.tmpdir(). */
  (): Promise<string>
  /** Removes `dir` too (a path made some other way) with the rest; returns it. */
  track(dir: string): string
}

/** A maker of temp dirs that are all removed after the calling file's tests. */
export function trackedTempDirs(prefix?: string): TempDirs {
  const dirs: string[] = []
  afterAll(async () => {
    for (const d of dirs) await fs.rm(d, { recursive: true, force: true })
  })
  const track = (dir: string): string => {
    dirs.push(dir)
    return dir
  }
  return Object.assign(async () => track(await tempDir(prefix)), { track })
}

export async function tempDir(prefix = 'lading-test-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix))
}

/** A tar of `files` (name → content), made with tar-stream, small enough for memory. */
export async function makeTar(
  entries: {
    name: string
    content?: string | Buffer
    type?: 'file' | 'directory' | 'symlink'
    linkname?: string
  }[]
): Promise<Buffer> {
  const pack = tar.pack()
  const chunks: Buffer[] = []
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => chunks.push(c as Buffer))
    pack.on('end', () => resolve())
    pack.on('error', reject)
  })
  for (const e of entries) {
    const header: Partial<tar.Header> & { name: string } = {
      name: e.name,
      type: e.type ?? 'file',
      mode: e.type === 'directory' ? 0o755 : 0o644,
      mtime: new Date(0),
      linkname: e.linkname
    }
    if (header.type === 'file') pack.entry(header, Buffer.from(e.content ?? ''))
    else pack.entry(header)
  }
  pack.finalize()
  await done
  return Buffer.concat(chunks)
}

export interface FixtureImage {
  ref?: string
  /** Layer contents: each a map of file name to content. */
  layers: Record<string, string>[]
  gzip?: boolean
  architecture?: string
  variant?: string
  cmd?: string[]
  /** Annotations of the manifest itself, which makes its digest tell it apart. */
  annotations?: Record<string, string>
}

export interface WrittenImage {
  manifest: Descriptor
  manifestBody: Manifest
  configBytes: Buffer
  diffIds: string[]
  layerTars: Buffer[]
}

/** Writes `data` into the layout at `dir` under its digest, which it returns. */
export async function writeBlob(dir: string, data: Buffer): Promise<string> {
  const d = sha256(data)
  await fs.mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true })
  await fs.writeFile(path.join(dir, 'blobs', 'sha256', d.slice(7)), data)
  return d
}

/** Writes a minimal OCI layout holding `images`, independent of the code under test. */
export async function writeFixtureLayout(
  dir: string,
  images: FixtureImage[]
): Promise<WrittenImage[]> {
  await fs.mkdir(dir, { recursive: true })
  const out: WrittenImage[] = []
  const entries: Descriptor[] = []
  for (const img of images) {
    const layerTars: Buffer[] = []
    const layers: Descriptor[] = []
    for (const files of img.layers) {
      const t = await makeTar(Object.entries(files).map(([name, content]) => ({ name, content })))
      layerTars.push(t)
      const blob = img.gzip ? gzipSync(t) : t
      layers.push({
        mediaType: img.gzip
          ? 'application/vnd.oci.image.layer.v1.tar+gzip'
          : 'application/vnd.oci.image.layer.v1.tar',
        digest: await writeBlob(dir, blob),
        size: blob.length
      })
    }
    const diffIds = layerTars.map(t => sha256(t))
    const config: ImageConfig = {
      architecture: img.architecture ?? 'amd64',
      os: 'linux',
      config: { Cmd: img.cmd ?? ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: diffIds }
    }
    if (img.variant) config.variant = img.variant
    const configBytes = Buffer.from(JSON.stringify(config))
    const manifestBody: Manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: await writeBlob(dir, configBytes),
        size: configBytes.length
      },
      layers
    }
    if (img.annotations) manifestBody.annotations = img.annotations
    const mb = Buffer.from(JSON.stringify(manifestBody))
    const manifest: Descriptor = {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: await writeBlob(dir, mb),
      size: mb.length
    }
    if (img.ref) manifest.annotations = { 'org.opencontainers.image.ref.name': img.ref }
    entries.push(manifest)
    out.push({ manifest, manifestBody, configBytes, diffIds, layerTars })
  }
  await fs.writeFile(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
  await fs.writeFile(
    path.join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: entries
    })
  )
  return out
}

/** Reads everything a consumer needs from an image source whose root is a manifest. */
export async function readImage(src: ImageSource): Promise<{
  manifest: Manifest
  configBytes: Buffer
  config: ImageConfig
  layerDigests: string[]
  layerMediaTypes: string[]
}> {
  const manifest = JSON.parse((await src.read(src.root)).toString()) as Manifest
  const configBytes = await src.read(manifest.config)
  for (const l of manifest.layers) {
    if (!(await src.has(l))) throw new Error(`layer ${l.digest} missing`)
    const h = createHash('sha256')
    for await (const c of await src.open(l)) h.update(c as Buffer)
    if ('sha256:' + h.digest('hex') !== l.digest) throw new Error(`layer ${l.digest} corrupt`)
  }
  return {
    manifest,
    configBytes,
    config: JSON.parse(configBytes.toString()) as ImageConfig,
    layerDigests: manifest.layers.map(l => l.digest),
    layerMediaTypes: manifest.layers.map(l => l.mediaType)
  }
}

/** Names of the entries of a tar, in order, with tar-stream (plain tar only). */
export async function tarNames(file: string): Promise<string[]> {
  const extract = tar.extract()
  const names: string[] = []
  const { createReadStream } = await import('node:fs')
  createReadStream(file).pipe(extract)
  for await (const e of extract) {
    names.push(e.header.name)
    e.resume()
  }
  return names
}
