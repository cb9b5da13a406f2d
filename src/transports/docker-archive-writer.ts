import { createWriteStream } from 'node:fs'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { randomBytes } from 'node:crypto'
import { pipeline } from 'node:stream/promises'
import { LadingError } from '../util/errors.js'
import { Temps } from '../util/temps.js'
import { HashingStream, parseDigest } from '../oci/digest.js'
import { isObject, parseJSONValue } from '../oci/json.js'
import { isIndexMediaType, isManifestMediaType, layerCompression } from '../oci/mediatypes.js'
import { formatPlatform } from '../oci/platform.js'
import { DOCKER_HUB, type Reference } from '../oci/reference.js'
import type { Descriptor, ImageConfig, Index, Manifest } from '../oci/types.js'
import { createDecompressor } from '../codec/decompress.js'
import { writeTar, type ArchiveMember } from './archive-writer.js'
import { Layout } from './layout.js'

/**
 * `docker save`'s name for a reference: Docker Hub's shown short (`app:1`, `org/app:1`), others
 * in full. Only tags can be RepoTags.
 */
export function repoTagOf(ref: Reference): string | undefined {
  if (!ref.tag) return undefined
  const repo =
    ref.registry === DOCKER_HUB
      ? ref.repository.replace(/^library\//, '')
      : `${ref.registry}/${ref.repository}`
  return `${repo}:${ref.tag}`
}

function hexOf(digest: string, where: string): string {
  return parseDigest(digest, where).encoded
}

/**
 * The one image of a layout a `docker save` archive can hold: its root manifest, or the only
 * image of its root index (attestation manifests, platform unknown/unknown, set aside).
 */
async function pickImage(layout: Layout, layoutDir: string): Promise<Descriptor> {
  const index = parseJSONValue(
    await fs.readFile(path.join(layoutDir, 'index.json')),
    `${layoutDir}/index.json`
  ) as Index
  if (!isObject(index) || !Array.isArray(index.manifests) || index.manifests.length !== 1)
    throw new LadingError(`${layoutDir}: index.json does not name one image`)
  const root = index.manifests[0]
  if (isManifestMediaType(root.mediaType)) return root
  if (!isIndexMediaType(root.mediaType))
    throw new LadingError(`${layoutDir}: ${root.mediaType} is not an image`)
  const inner = parseJSONValue(await layout.read(root), `index ${root.digest}`) as Index
  const images = (inner.manifests ?? []).filter(
    d => isManifestMediaType(d.mediaType) && d.platform?.os !== 'unknown'
  )
  if (images.length === 1) return images[0]
  const platforms = images.map(d => (d.platform ? formatPlatform(d.platform) : '?')).join(', ')
  throw new LadingError(
    `archive-format docker holds one image, and this one has ${images.length} platforms ` +
      `(${platforms}): pick one with platforms, or use archive-format oci (Docker 25+ loads it)`
  )
}

/**
 * A layer uncompressed into a temporary file beside the archive, its sha256 checked against the
 * config's diff_id as it is written: `docker load` and podman check it too, later and less clearly.
 */
async function uncompressed(
  layout: Layout,
  desc: Descriptor,
  diffId: string,
  dir: string,
  temps: Temps
): Promise<{ file: string; size: number }> {
  const compression = layerCompression(desc.mediaType)
  if (!compression)
    throw new LadingError(`layer ${desc.digest} has media type ${desc.mediaType}, not a layer`)
  const file = path.join(dir, `.lading-layer-${randomBytes(6).toString('hex')}.tar`)
  temps.track(file)
  const hash = new HashingStream('sha256')
  await pipeline(
    await layout.open(desc),
    createDecompressor(compression),
    hash,
    createWriteStream(file)
  )
  if (hash.digest() !== diffId)
    throw new LadingError(
      `layer ${desc.digest} uncompresses to ${hash.digest()}, but the config's diff_id says ` +
        `${diffId}; the image is not consistent and cannot be written as a docker archive`
    )
  return { file, size: (await fs.stat(file)).size }
}

/**
 * The members of a `docker save` archive, layers uncompressed one at a time as the tar asks for
 * them: `manifest.json` (Config, RepoTags, Layers), the config as `HEX.json`, each layer as
 * `DIFFID-HEX/layer.tar`: the legacy format older Docker, podman and skopeo read.
 */
async function* members(
  layout: Layout,
  manifest: Manifest,
  config: Buffer,
  repoTags: string[],
  dir: string,
  temps: Temps
): AsyncGenerator<ArchiveMember> {
  const parsed = parseJSONValue(config, `config ${manifest.config.digest}`) as ImageConfig
  const diffIds = parsed.rootfs?.diff_ids ?? []
  if (diffIds.length !== manifest.layers.length)
    throw new LadingError(
      `config ${manifest.config.digest} lists ${diffIds.length} diff_ids for ` +
        `${manifest.layers.length} layers; it cannot be written as a docker archive`
    )
  const configName = `${hexOf(manifest.config.digest, 'config digest')}.json`
  const layerNames = diffIds.map(d => `${hexOf(d, 'diff_id')}/layer.tar`)
  const saved = [{ Config: configName, RepoTags: repoTags, Layers: layerNames }]
  const manifestJson = Buffer.from(JSON.stringify(saved))
  yield { name: 'manifest.json', bytes: manifestJson, size: manifestJson.length }
  yield { name: configName, bytes: config, size: config.length }
  const written = new Set<string>()
  for (const [i, layer] of manifest.layers.entries()) {
    if (written.has(layerNames[i])) continue
    written.add(layerNames[i])
    const { file, size } = await uncompressed(layout, layer, diffIds[i], dir, temps)
    try {
      yield { name: layerNames[i].replace(/layer\.tar$/, ''), size: 0 }
      yield { name: layerNames[i], file, size }
    } finally {
      await temps.remove(file)
    }
  }
}

/**
 * Writes the image of the OCI layout at `layoutDir` as a `docker save` tarball at `archivePath`,
 * named by `repoTags` (`docker load` tags it so). Deterministic like the oci-archive: the same
 * layout and tags give the same bytes.
 */
export async function writeDockerArchive(
  layoutDir: string,
  archivePath: string,
  opts: { repoTags?: string[]; temps?: Temps } = {}
): Promise<void> {
  const temps = opts.temps ?? new Temps()
  const layout = new Layout(layoutDir)
  const image = await pickImage(layout, layoutDir)
  const manifest = parseJSONValue(await layout.read(image), `manifest ${image.digest}`) as Manifest
  const config = await layout.read(manifest.config)
  await writeTar(
    members(layout, manifest, config, opts.repoTags ?? [], path.dirname(archivePath), temps),
    archivePath,
    temps,
    'the docker archive'
  )
}
