/** Pure construction of configs, manifests and indexes: no I/O, so each step is easy to test. */
import { MediaType, toOciMediaType } from '../oci/mediatypes.js'
import { normalizePlatform } from '../oci/platform.js'
import { formatRFC3339 } from '../oci/time.js'
import type { Descriptor, ImageConfig, Index, Manifest, Platform } from '../oci/types.js'

/** The config edits of a run: the action's entrypoint, cmd, env, workdir, user, labels, ports. */
export interface ConfigEdits {
  entrypoint?: string[]
  cmd?: string[]
  env: Array<[string, string]>
  workdir?: string
  user?: string
  labels: Record<string, string>
  exposedPorts: string[]
}

export interface NewLayer {
  descriptor: Descriptor
  diffId: string
  createdBy: string
  /** the history comment ('lading' when unset) */
  comment?: string
}

export function scratchConfig(platform: Platform): ImageConfig {
  const c: ImageConfig = {
    architecture: platform.architecture,
    os: platform.os,
    config: {},
    rootfs: { type: 'layers', diff_ids: [] },
    history: []
  }
  if (platform.variant) c.variant = platform.variant
  if (platform['os.version']) c['os.version'] = platform['os.version']
  return c
}

export function hasConfigEdits(e: ConfigEdits): boolean {
  return (
    e.entrypoint !== undefined ||
    e.cmd !== undefined ||
    e.env.length > 0 ||
    e.workdir !== undefined ||
    e.user !== undefined ||
    Object.keys(e.labels).length > 0 ||
    e.exposedPorts.length > 0
  )
}

/**
 * The base config with the new layers appended and the edits applied. Env entries replace the
 * base's of the same key; labels and exposed ports merge; entrypoint without cmd clears the base's
 * cmd, as a Dockerfile ENTRYPOINT does.
 */
export function editConfig(
  base: ImageConfig,
  edits: ConfigEdits,
  layers: NewLayer[],
  created: Date
): ImageConfig {
  const cfg: ImageConfig = structuredClone(base)
  const when = formatRFC3339(created)
  cfg.created = when
  cfg.rootfs = {
    type: 'layers',
    diff_ids: [...(base.rootfs?.diff_ids ?? []), ...layers.map(l => l.diffId)]
  }
  const history = [...(base.history ?? [])]
  for (const l of layers)
    history.push({ created: when, created_by: l.createdBy, comment: l.comment ?? 'lading' })
  const c = { ...(cfg.config ?? {}) }
  if (edits.entrypoint !== undefined) {
    c.Entrypoint = edits.entrypoint
    if (edits.cmd === undefined) delete c.Cmd
  }
  if (edits.cmd !== undefined) c.Cmd = edits.cmd
  if (edits.env.length) {
    const env = [...(c.Env ?? [])]
    for (const [k, v] of edits.env) {
      const i = env.findIndex(e => e === k || e.startsWith(k + '='))
      if (i >= 0) env[i] = `${k}=${v}`
      else env.push(`${k}=${v}`)
    }
    c.Env = env
  }
  if (edits.workdir !== undefined) c.WorkingDir = edits.workdir
  if (edits.user !== undefined) c.User = edits.user
  if (Object.keys(edits.labels).length) c.Labels = { ...(c.Labels ?? {}), ...edits.labels }
  if (edits.exposedPorts.length) {
    const ports = { ...(c.ExposedPorts ?? {}) }
    for (const p of edits.exposedPorts) ports[p] = {}
    c.ExposedPorts = ports
  }
  const configEdited = hasConfigEdits(edits)
  if (configEdited && layers.length === 0)
    history.push({
      created: when,
      created_by: 'lading: config',
      comment: 'lading',
      empty_layer: true
    })
  cfg.history = history
  cfg.config = c
  return cfg
}

export function makeManifest(
  config: Descriptor,
  baseLayers: Descriptor[],
  newLayers: NewLayer[],
  annotations: Record<string, string>
): Manifest {
  const m: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ImageManifest,
    config: { mediaType: MediaType.ImageConfig, digest: config.digest, size: config.size },
    // Docker's gzip layer type and OCI's name the same bytes, so converting is only a relabel.
    layers: [
      ...baseLayers.map(l => ({ ...l, mediaType: toOciMediaType(l.mediaType) })),
      ...newLayers.map(l => l.descriptor)
    ]
  }
  if (Object.keys(annotations).length) m.annotations = sortKeys(annotations)
  return m
}

export function makeIndex(manifests: Descriptor[], annotations: Record<string, string>): Index {
  const idx: Index = {
    schemaVersion: 2,
    mediaType: MediaType.ImageIndex,
    manifests: manifests.map(m =>
      m.platform ? { ...m, platform: normalizePlatform(m.platform) } : m
    )
  }
  if (Object.keys(annotations).length) idx.annotations = sortKeys(annotations)
  return idx
}

export function sortKeys(r: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}
