/**
 * The smallest OCI image layout around built layers: a config naming their diff_ids, a manifest,
 * index.json with a ref name, and oci-layout. Enough for umoci and oci-image-tool to read.
 */
import { Layout, writeLayoutIndex } from '../../src/transports/layout.js'
import { MediaType } from '../../src/oci/mediatypes.js'
import type { Descriptor } from '../../src/oci/types.js'

export interface LayerRef {
  descriptor: Descriptor
  diffId: string
  createdBy?: string
}

export async function writeMiniLayout(
  store: Layout,
  layers: LayerRef[],
  tag = 'latest'
): Promise<Descriptor> {
  const config = {
    architecture: 'amd64',
    os: 'linux',
    created: '2024-01-01T00:00:00Z',
    config: {},
    rootfs: { type: 'layers', diff_ids: layers.map(l => l.diffId) },
    history: layers.map(l => ({ created: '2024-01-01T00:00:00Z', created_by: l.createdBy ?? '' }))
  }
  const cfg = await store.writeJSON(config, MediaType.ImageConfig)
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ImageManifest,
    config: { mediaType: cfg.mediaType, digest: cfg.digest, size: cfg.size },
    layers: layers.map(l => l.descriptor)
  }
  const m = await store.writeJSON(manifest, MediaType.ImageManifest)
  const desc: Descriptor = {
    mediaType: m.mediaType,
    digest: m.digest,
    size: m.size,
    annotations: { 'org.opencontainers.image.ref.name': tag }
  }
  await writeLayoutIndex(store.root, [desc])
  await store.finish()
  return desc
}
