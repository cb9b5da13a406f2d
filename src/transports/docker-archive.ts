import { createReadStream } from 'node:fs'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { LadingError, messageOf } from '../util/errors.js'
import { escapedLine, listed } from '../util/listing.js'
import { digestOf } from '../oci/digest.js'
import { parseJSONValue } from '../oci/json.js'
import { MediaType, layerMediaType } from '../oci/mediatypes.js'
import { platformOfConfig } from '../oci/platform.js'
import { formatReference, parseReference } from '../oci/reference.js'
import type { Descriptor, Manifest, Platform } from '../oci/types.js'
import { BLOB_READ_CHUNK, blobPathIn, writeLayoutIndex } from './layout.js'
import { openLayout, type LayoutImage } from './layout-image.js'
import { checkArchiveFile } from './oci-archive.js'
import { readableCompression } from '../codec/decompress.js'
import { layerLocation, scanKey, type BlobScan, type BlobScanner } from '../oci/scan.js'
import { extractArchive, makeTempDir, type ExtractedFile } from './tar-extract.js'
import { dockerArchiveRules, memberName } from './archive-rules.js'
import { MAX_DOCUMENT_BYTES } from '../oci/limits.js'
import { Temps } from '../util/temps.js'

/** One image of a `docker save` manifest.json. */
interface SaveItem {
  Config: string
  RepoTags?: string[] | null
  Layers: string[]
}

/** The containerd annotation Docker 25+ puts on index.json entries: the full image name. */
const CONTAINERD_IMAGE_NAME = 'io.containerd.image.name'

function normaliseRef(ref: string): string | undefined {
  try {
    return formatReference(parseReference(ref, { defaultTag: 'latest' }))
  } catch {
    return undefined
  }
}

function tagsOf(items: SaveItem[]): string {
  return listed(
    items.map(i => (i.RepoTags?.length ? escapedLine(i.RepoTags.join(' ')) : '(untagged)'))
  )
}

async function readJSON(file: string, what: string, from: string): Promise<unknown> {
  let bytes: Buffer
  try {
    bytes = await fs.readFile(file)
  } catch (err) {
    throw new LadingError(`from "${from}": ${what} cannot be read as JSON: ${messageOf(err)}`)
  }
  return parseJSONValue(bytes, `from "${from}": ${what}`)
}

/**
 * The index.json entry of Docker 25+'s OCI view that `ref` names, or the only entry; undefined
 * when the OCI view cannot tell (the manifest.json view is used then).
 */
function pickOciEntry(manifests: Descriptor[], ref: string | undefined): Descriptor | undefined {
  if (ref === undefined) return manifests.length === 1 ? manifests[0] : undefined
  const want = normaliseRef(ref)
  const hits = manifests.filter(d => {
    const name = d.annotations?.[CONTAINERD_IMAGE_NAME]
    return name !== undefined && want !== undefined && normaliseRef(name) === want
  })
  return new Set(hits.map(d => d.digest)).size === 1 ? hits[0] : undefined
}

function selectItem(items: SaveItem[], ref: string | undefined, from: string, archive: string) {
  if (ref === undefined) {
    if (items.length === 1) return items[0]
    throw new LadingError(
      `from "${from}": ${archive} holds ${items.length} images: ${tagsOf(items)}; ` +
        `choose one with docker-archive:${archive}:REPO:TAG`
    )
  }
  const want = normaliseRef(ref)
  const hit = items.find(i => (i.RepoTags ?? []).some(t => normaliseRef(t) === want))
  if (!hit)
    throw new LadingError(
      `from "${from}": no image tagged "${ref}" in ${archive}; it holds ${tagsOf(items)}`
    )
  return hit
}

function validItems(value: unknown): value is SaveItem[] {
  return (
    Array.isArray(value) &&
    value.every(
      i =>
        i &&
        typeof i.Config === 'string' &&
        Array.isArray(i.Layers) &&
        i.Layers.every((l: unknown) => typeof l === 'string')
    )
  )
}

/**
 * A layer read once: the validator's scan gives the digest of its uncompressed tar (which the
 * config's diff_ids must list) along with every content finding, so validating the converted
 * layout does not read it again.
 */
function scanLayer(
  scanBlob: BlobScanner,
  rec: ExtractedFile,
  diffAlgorithm: string
): Promise<BlobScan> {
  return scanBlob(createReadStream(rec.file, { highWaterMark: BLOB_READ_CHUNK }), {
    algorithm: 'sha256',
    diffAlgorithm,
    compression: readableCompression(rec.head),
    checkTar: true,
    location: layerLocation(rec.digest),
    digest: rec.digest
  })
}

/**
 * Opens a `docker save` tarball (legacy `<id>/layer.tar` layout, skopeo's docker-archive, or
 * Docker 25+ with its OCI view). The image is served as OCI: when the archive carries an OCI
 * index.json that selects it, that view is read as is; otherwise the config is kept byte for byte
 * (its diff_ids must stay) under the OCI config media type, each layer is checked against its
 * diff_id, and a manifest is synthesised. `ref` (REPO:TAG) selects among several images;
 * `userSpec` is how the user wrote the source, for messages.
 */
export async function openDockerArchive(
  archive: string,
  scanBlob: BlobScanner,
  userSpec?: string,
  ref?: string,
  temps: Temps = new Temps()
): Promise<LayoutImage> {
  const from = userSpec ?? (ref ? `docker-archive:${archive}:${ref}` : `docker-archive:${archive}`)
  await checkArchiveFile(archive, from)
  const tmp = await makeTempDir(temps)
  const cleanup = () => temps.remove(tmp)
  try {
    const raw = path.join(tmp, 'archive')
    const { files, seen, warnings } = await extractArchive(
      archive,
      raw,
      from,
      dockerArchiveRules(from, archive)
    )
    const layoutOpts = {
      onClose: cleanup,
      where: archive,
      refHint: `docker-archive:${archive}:REF`,
      warnings
    }

    if (files.has('oci-layout') && files.has('index.json')) {
      const index = (await readJSON(path.join(raw, 'index.json'), 'index.json', from)) as {
        manifests?: Descriptor[]
      }
      const entry = Array.isArray(index?.manifests) ? pickOciEntry(index.manifests, ref) : undefined
      if (entry || !files.has('manifest.json'))
        return await openLayout(raw, entry?.digest ?? ref, from, layoutOpts)
    }

    if (!files.has('manifest.json')) {
      throw new LadingError(
        `from "${from}": ${archive} is not a docker save tarball` +
          (seen('oci-layout')
            ? `; it looks like an OCI layout: use oci-archive:${archive}`
            : ' nor an OCI layout archive (it has no manifest.json)')
      )
    }
    const items = await readJSON(path.join(raw, 'manifest.json'), 'manifest.json', from)
    if (!validItems(items) || items.length === 0)
      throw new LadingError(
        `from "${from}": manifest.json in ${archive} is not a list of {Config, RepoTags, Layers}`
      )
    const item = selectItem(items, ref, from, archive)
    const save: SaveArchive = { archive, from, files, layout: path.join(tmp, 'layout') }
    await fs.mkdir(path.join(save.layout, 'blobs', 'sha256'), { recursive: true })
    const config = await readSaveConfig(save, item)
    const { layers, scanned } = await linkLayers(save, item, config.diffIds, scanBlob)
    await writeConvertedLayout(save, config, layers)
    // The converted layout holds links to what it needs; the rest of the extraction can go.
    await fs.rm(raw, { recursive: true, force: true })
    const impliedManifest = dockerManifestOf(config, layers, config.diffIds)
    return await openLayout(save.layout, undefined, from, {
      ...layoutOpts,
      scanned,
      impliedManifest
    })
  } catch (err) {
    await cleanup()
    throw err
  }
}

/** A `docker save` tarball being converted: its extracted files and the layout being made. */
interface SaveArchive {
  archive: string
  from: string
  files: Map<string, ExtractedFile>
  layout: string
}

/** The config of a saved image, kept byte for byte (its diff_ids must stay). */
interface SaveConfig {
  bytes: Buffer
  diffIds: unknown[]
  platform?: Platform
}

/** The extracted file manifest.json names, or a clear error when the tarball lacks it. */
function memberOf(save: SaveArchive, name: string, what: string): ExtractedFile {
  const rec = save.files.get(memberName(name))
  if (!rec)
    throw new LadingError(
      `from "${save.from}": manifest.json names ${what} "${name}", which is not in ${save.archive}`
    )
  return rec
}

async function readSaveConfig(save: SaveArchive, item: SaveItem): Promise<SaveConfig> {
  const { from, archive } = save
  const rec = memberOf(save, item.Config, 'the config')
  if (rec.size > MAX_DOCUMENT_BYTES)
    throw new LadingError(
      `from "${from}": the config ${item.Config} in ${archive} has ${rec.size} bytes, ` +
        `more than the ${MAX_DOCUMENT_BYTES} bytes (MAX_DOCUMENT_BYTES) Lading reads of a document`
    )
  const bytes = await fs.readFile(rec.file)
  const config = parseJSONValue(bytes, `from "${from}": the config ${item.Config}`) as {
    rootfs?: { diff_ids?: unknown }
    os?: unknown
    architecture?: unknown
    variant?: unknown
  }
  const diffIds = config?.rootfs?.diff_ids
  if (!Array.isArray(diffIds) || diffIds.length !== item.Layers.length)
    throw new LadingError(
      `from "${from}": the config ${item.Config} lists ` +
        `${Array.isArray(diffIds) ? diffIds.length : 'no'} rootfs.diff_ids but manifest.json ` +
        `lists ${item.Layers.length} layers; the tarball is inconsistent`
    )
  const platform =
    typeof config.os === 'string' && typeof config.architecture === 'string'
      ? platformOfConfig({
          os: config.os,
          architecture: config.architecture,
          variant: typeof config.variant === 'string' ? config.variant : undefined
        })
      : undefined
  return { bytes, diffIds, platform }
}

/**
 * Each layer read once (its scan gives the diff_id the config must list, and every content
 * finding) and linked into the layout under its digest.
 */
async function linkLayers(
  save: SaveArchive,
  item: SaveItem,
  diffIds: unknown[],
  scanBlob: BlobScanner
): Promise<{ layers: Descriptor[]; scanned: Map<string, BlobScan> }> {
  const layers: Descriptor[] = []
  const scanned = new Map<string, BlobScan>()
  for (const [i, name] of item.Layers.entries()) {
    const rec = memberOf(save, name, `layer ${i}`)
    // As the validator reads the config: a sha512 diff_id is checked with sha512.
    const want = diffIds[i]
    const diffAlgorithm =
      typeof want === 'string' && want.startsWith('sha512:') ? 'sha512' : 'sha256'
    const scan = await scanLayer(scanBlob, rec, diffAlgorithm)
    // A layer that does not decompress is the validator's to report (layer-decompress).
    if (scan.diffId !== undefined && scan.diffId !== want)
      throw new LadingError(
        `from "${save.from}": layer ${i} (${name}) in ${save.archive} has uncompressed digest ` +
          `${scan.diffId}, but the config lists diff_id ${String(want)}; the tarball is corrupt`
      )
    const dest = blobPathIn(save.layout, rec.digest)
    // One file may back several layers (the same layer twice), so it is linked, not moved.
    await fs.rm(dest, { force: true })
    await fs.link(rec.file, dest)
    const desc = {
      mediaType: layerMediaType(readableCompression(rec.head)),
      digest: rec.digest,
      size: rec.size
    }
    layers.push(desc)
    scanned.set(scanKey(desc, diffAlgorithm), scan)
  }
  return { layers, scanned }
}

/** The config, a manifest made for it and the layers, and index.json naming it. */
async function writeConvertedLayout(
  save: SaveArchive,
  config: SaveConfig,
  layers: Descriptor[]
): Promise<void> {
  const blob = (digest: string) => blobPathIn(save.layout, digest)
  const configDigest = digestOf(config.bytes)
  await fs.writeFile(blob(configDigest), config.bytes)
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ImageManifest,
    config: { mediaType: MediaType.ImageConfig, digest: configDigest, size: config.bytes.length },
    layers
  }
  const manifestBytes = Buffer.from(JSON.stringify(manifest))
  const root: Descriptor = {
    mediaType: MediaType.ImageManifest,
    digest: digestOf(manifestBytes),
    size: manifestBytes.length,
    ...(config.platform ? { platform: config.platform } : {})
  }
  await fs.writeFile(blob(root.digest), manifestBytes)
  await writeLayoutIndex(save.layout, [root])
}

/**
 * The Docker schema 2 manifest a `docker save` tarball implies, byte for byte as containers/image
 * (skopeo) derives it: the Docker config type, each layer typed `rootfs.diff.tar.gzip` whatever
 * its compression, named by its diff_id with the size of its file; Go's field order, compact.
 */
function dockerManifestOf(
  config: SaveConfig,
  layers: Descriptor[],
  diffIds: unknown[]
): { descriptor: Descriptor; bytes: Buffer } {
  const body = {
    schemaVersion: 2,
    mediaType: MediaType.DockerManifest,
    config: {
      mediaType: MediaType.DockerConfig,
      size: config.bytes.length,
      digest: digestOf(config.bytes)
    },
    layers: layers.map((l, i) => ({
      mediaType: MediaType.DockerLayerGzip,
      size: l.size,
      digest: typeof diffIds[i] === 'string' ? (diffIds[i] as string) : l.digest
    }))
  }
  const bytes = Buffer.from(JSON.stringify(body))
  return {
    descriptor: {
      mediaType: MediaType.DockerManifest,
      digest: digestOf(bytes),
      size: bytes.length
    },
    bytes
  }
}
