/** Media types of the OCI Image Spec v1.1 and the Docker schema 2 types Lading reads. */
export const MediaType = {
  ImageIndex: 'application/vnd.oci.image.index.v1+json',
  ImageManifest: 'application/vnd.oci.image.manifest.v1+json',
  ImageConfig: 'application/vnd.oci.image.config.v1+json',
  Layer: 'application/vnd.oci.image.layer.v1.tar',
  LayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  LayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  LayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  LayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  LayerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  Empty: 'application/vnd.oci.empty.v1+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  DockerLayerForeignGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip'
} as const

export type Compression = 'gzip' | 'zstd' | 'none'

export function isIndexMediaType(mt: string | undefined): boolean {
  return mt === MediaType.ImageIndex || mt === MediaType.DockerManifestList
}

export function isManifestMediaType(mt: string | undefined): boolean {
  return mt === MediaType.ImageManifest || mt === MediaType.DockerManifest
}

/** The compression a layer media type declares, or undefined when it is not a layer type Lading knows. */
export function layerCompression(mt: string): Compression | undefined {
  switch (mt) {
    case MediaType.Layer:
    case MediaType.LayerNondistributable:
      return 'none'
    case MediaType.LayerGzip:
    case MediaType.LayerNondistributableGzip:
    case MediaType.DockerLayerGzip:
    case MediaType.DockerLayerForeignGzip:
      return 'gzip'
    case MediaType.LayerZstd:
    case MediaType.LayerNondistributableZstd:
      return 'zstd'
    default:
      return undefined
  }
}

export function layerMediaType(c: Compression): string {
  return c === 'gzip' ? MediaType.LayerGzip : c === 'zstd' ? MediaType.LayerZstd : MediaType.Layer
}

/** Docker schema 2 media types mapped to their OCI equivalents, for converting docker images to OCI. */
export function toOciMediaType(mt: string): string {
  switch (mt) {
    case MediaType.DockerManifestList:
      return MediaType.ImageIndex
    case MediaType.DockerManifest:
      return MediaType.ImageManifest
    case MediaType.DockerConfig:
      return MediaType.ImageConfig
    case MediaType.DockerLayerGzip:
      return MediaType.LayerGzip
    case MediaType.DockerLayerForeignGzip:
      return MediaType.LayerNondistributableGzip
    default:
      return mt
  }
}
