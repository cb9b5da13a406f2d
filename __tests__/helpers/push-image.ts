import { randomBytes } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import { Layout, writeLayoutIndex } from '../../src/transports/layout.js'
import { MediaType } from '../../src/oci/mediatypes.js'
import type { Descriptor } from '../../src/oci/types.js'
import type { PushBlob, PushRequest } from '../../src/registry/index.js'
import type { Reference } from '../../src/oci/reference.js'

export interface TestImage {
  store: Layout
  root: Descriptor
  manifests: Map<string, PushRequest['manifests'][number]>
  blobs: PushBlob[]
  layers: Descriptor[]
}

/** Random (incompressible) layer content, so every test's blobs are new to the registry. */
export async function addLayer(store: Layout, size: number): Promise<Descriptor> {
  const data = gzipSync(randomBytes(size), { level: 0 })
  const w = await store.writeBuffer(data)
  return { mediaType: MediaType.LayerGzip, digest: w.digest, size: w.size }
}

/**
 * An image in an OCI layout under `dir`: one manifest per platform, each with its own config,
 * `shared` layers common to all, one layer of its own; an index over them when more than one.
 */
export async function makeImage(
  dir: string,
  opts: {
    platforms?: string[]
    layerSizes?: number[]
    extraLayers?: Descriptor[]
    extraReader?: PushBlob['reader']
  } = {}
): Promise<TestImage> {
  const store = new Layout(dir)
  await store.init()
  const platforms = opts.platforms ?? ['linux/amd64']
  const shared: Descriptor[] = []
  for (const size of opts.layerSizes ?? [1000, 50_000]) shared.push(await addLayer(store, size))
  const manifests = new Map<string, PushRequest['manifests'][number]>()
  const blobs = new Map<string, PushBlob>()
  const add = (d: Descriptor, reader: PushBlob['reader'] = store) =>
    blobs.set(d.digest, { descriptor: d, reader })
  shared.forEach(d => add(d))
  for (const d of opts.extraLayers ?? []) add(d, opts.extraReader)
  const manifestDescs: Descriptor[] = []
  const allLayers: Descriptor[] = [...(opts.extraLayers ?? []), ...shared]
  for (const p of platforms) {
    const [os, architecture] = p.split('/')
    const own = await addLayer(store, 2000)
    add(own)
    allLayers.push(own)
    const layers = [...(opts.extraLayers ?? []), ...shared, own]
    const config = await store.writeJSON(
      {
        architecture,
        os,
        rootfs: { type: 'layers', diff_ids: layers.map(l => l.digest) },
        config: { Env: [`X=${randomBytes(4).toString('hex')}`] }
      },
      MediaType.ImageConfig
    )
    const configDesc: Descriptor = {
      mediaType: config.mediaType,
      digest: config.digest,
      size: config.size
    }
    add(configDesc)
    const m = await store.writeJSON(
      { schemaVersion: 2, mediaType: MediaType.ImageManifest, config: configDesc, layers },
      MediaType.ImageManifest
    )
    const desc: Descriptor = {
      mediaType: m.mediaType,
      digest: m.digest,
      size: m.size,
      platform: { os, architecture }
    }
    manifests.set(m.digest, {
      descriptor: { mediaType: m.mediaType, digest: m.digest, size: m.size },
      bytes: m.bytes
    })
    manifestDescs.push(desc)
  }
  let root: Descriptor
  if (platforms.length === 1) {
    root = { ...manifestDescs[0] }
    delete root.platform
  } else {
    const idx = await store.writeJSON(
      { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: manifestDescs },
      MediaType.ImageIndex
    )
    root = { mediaType: idx.mediaType, digest: idx.digest, size: idx.size }
    manifests.set(idx.digest, { descriptor: root, bytes: idx.bytes })
  }
  await writeLayoutIndex(dir, [
    { ...root, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }
  ])
  await store.finish()
  return { store, root, manifests, blobs: [...blobs.values()], layers: allLayers }
}

export function requestFor(
  img: TestImage,
  targets: Reference[],
  pushByDigest = false
): PushRequest {
  return {
    targets,
    root: img.root,
    // Built children first, the index last: the push order.
    manifests: [...img.manifests.values()],
    blobs: img.blobs,
    pushByDigest
  }
}
