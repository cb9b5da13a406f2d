/** The OCI Image Spec v1.1 data model: descriptors, manifests, indexes, configs, platforms. */

export interface Platform {
  architecture: string
  os: string
  'os.version'?: string
  'os.features'?: string[]
  variant?: string
  features?: string[]
}

export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  urls?: string[]
  annotations?: Record<string, string>
  data?: string
  platform?: Platform
  artifactType?: string
}

export interface Manifest {
  schemaVersion: 2
  mediaType?: string
  artifactType?: string
  config: Descriptor
  layers: Descriptor[]
  subject?: Descriptor
  annotations?: Record<string, string>
}

export interface Index {
  schemaVersion: 2
  mediaType?: string
  artifactType?: string
  manifests: Descriptor[]
  subject?: Descriptor
  annotations?: Record<string, string>
}

export interface HistoryEntry {
  created?: string
  created_by?: string
  author?: string
  comment?: string
  empty_layer?: boolean
}

export interface ContainerConfig {
  User?: string
  ExposedPorts?: Record<string, Record<string, never>>
  Env?: string[]
  Entrypoint?: string[]
  Cmd?: string[]
  Volumes?: Record<string, Record<string, never>>
  WorkingDir?: string
  Labels?: Record<string, string>
  StopSignal?: string
  ArgsEscaped?: boolean
  [key: string]: unknown
}

export interface ImageConfig {
  created?: string
  author?: string
  architecture: string
  os: string
  'os.version'?: string
  'os.features'?: string[]
  variant?: string
  config?: ContainerConfig
  rootfs: { type: string; diff_ids: string[] }
  history?: HistoryEntry[]
  [key: string]: unknown
}

/** Annotation keys the spec pre-defines and Lading writes. */
export const Annotation = {
  Created: 'org.opencontainers.image.created',
  Source: 'org.opencontainers.image.source',
  Revision: 'org.opencontainers.image.revision',
  RefName: 'org.opencontainers.image.ref.name',
  BaseName: 'org.opencontainers.image.base.name',
  BaseDigest: 'org.opencontainers.image.base.digest'
} as const
