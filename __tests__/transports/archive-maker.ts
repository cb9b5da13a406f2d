/**
 * Archives for the transport tests, streamed to disk: entries may be large (zero-filled bodies
 * of any size), so a test can make a decompression bomb without holding or writing its bytes.
 */
import { createWriteStream } from 'node:fs'
import { Readable, type Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGzip, createZstdCompress } from 'node:zlib'
import * as tar from 'tar-stream'
import { createHash } from 'node:crypto'

export interface ArchiveEntry {
  name: string
  content?: string | Buffer
  /** a body of this many zero bytes instead of `content` */
  zeros?: number
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo'
  linkname?: string
}

function zeros(n: number): Readable {
  const chunk = Buffer.alloc(1024 * 1024)
  let left = n
  return new Readable({
    read() {
      if (left === 0) return void this.push(null)
      const take = Math.min(left, chunk.length)
      left -= take
      this.push(chunk.subarray(0, take))
    }
  })
}

/** Writes `entries` as a tar, compressed as asked, to `file`; returns nothing held in memory. */
export async function writeArchive(
  file: string,
  entries: ArchiveEntry[],
  compression: 'none' | 'gzip' | 'zstd' = 'none'
): Promise<void> {
  const pack = tar.pack()
  const stages: Transform[] =
    compression === 'gzip' ? [createGzip()] : compression === 'zstd' ? [createZstdCompress()] : []
  const written = pipeline([pack, ...stages, createWriteStream(file)] as never)
  for (const e of entries) {
    const type = e.type ?? 'file'
    const header = { name: e.name, type, mode: 0o644, mtime: new Date(0), linkname: e.linkname }
    if (type !== 'file') {
      await new Promise<void>((resolve, reject) =>
        pack.entry(header, err => (err ? reject(err) : resolve()))
      )
      continue
    }
    if (e.zeros !== undefined) {
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry({ ...header, size: e.zeros }, err =>
          err ? reject(err) : resolve()
        )
        zeros(e.zeros!).pipe(sink as never)
      })
    } else {
      await new Promise<void>((resolve, reject) =>
        pack.entry(header, Buffer.from(e.content ?? ''), err => (err ? reject(err) : resolve()))
      )
    }
  }
  pack.finalize()
  await written
}

const sha256 = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex')

/** A one-layer image whose config (and manifest padding) a test chooses. */
export interface ImageParts {
  /** the config's exact bytes; a valid one by default */
  config?: (diffId: string) => Buffer
  /** spaces added inside the manifest, to make it as big as a test needs */
  manifestPadding?: number
}

/** The entries of an OCI layout holding one image made of `parts`, `oci-layout` first. */
export async function imageEntries(parts: ImageParts = {}): Promise<ArchiveEntry[]> {
  const pack = tar.pack()
  const chunks: Buffer[] = []
  pack.on('data', (c: unknown) => chunks.push(c as Buffer))
  const ended = new Promise<void>(resolve => pack.on('end', () => resolve()))
  pack.entry({ name: 'etc/hello', mode: 0o644, mtime: new Date(0) }, Buffer.from('hi'))
  pack.finalize()
  await ended
  const layer = Buffer.concat(chunks)
  const config =
    parts.config?.(sha256(layer)) ??
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: {},
        rootfs: { type: 'layers', diff_ids: [sha256(layer)] },
        history: [{ created_by: 'test' }]
      })
    )
  const manifestText = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: sha256(config),
      size: config.length
    },
    layers: [
      {
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        digest: sha256(layer),
        size: layer.length
      }
    ]
  })
  const manifest = Buffer.from(
    manifestText.slice(0, -1) + ' '.repeat(parts.manifestPadding ?? 0) + '}'
  )
  const index = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: sha256(manifest),
        size: manifest.length
      }
    ]
  })
  const blob = (b: Buffer): ArchiveEntry => ({
    name: `blobs/${sha256(b).replace(':', '/')}`,
    content: b
  })
  return [
    { name: 'oci-layout', content: '{"imageLayoutVersion":"1.0.0"}' },
    { name: 'index.json', content: index },
    blob(config),
    blob(manifest),
    blob(layer)
  ]
}
