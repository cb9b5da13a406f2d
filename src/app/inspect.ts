/**
 * `lading inspect`: what an image is, read from its documents only. Reading is one function
 * (top document, the selected manifest, its config: never a layer); everything after it is pure:
 * the documents → an `Inspection` (the JSON output as is) → text (see inspect-text.ts).
 */
import type { Readable } from 'node:stream'
import { LadingError } from '../util/errors.js'
import { isDigest } from '../oci/digest.js'
import { isObject, parseJSONValue } from '../oci/json.js'
import { isIndexMediaType, isManifestMediaType, MediaType } from '../oci/mediatypes.js'
import { formatPlatform, platformMatches } from '../oci/platform.js'
import type { ImageSource } from '../oci/blobs.js'
import type { BlobScan } from '../oci/scan.js'
import type { Descriptor, Platform } from '../oci/types.js'
import { escapedLine, listed } from '../util/listing.js'

/** The largest document inspect reads whole, as the validator parses JSON: bigger is no image. */
export const MAX_DOCUMENT = 16 * 1024 * 1024

/** The annotation buildx puts on the index entry of an attestation manifest. */
const REFERENCE_TYPE = 'vnd.docker.reference.type'
/** …and the one naming the manifest it attests. */
const REFERENCE_DIGEST = 'vnd.docker.reference.digest'

/** A document as read: its descriptor and its bytes, digest and size verified. */
export interface ReadDocument {
  descriptor: Descriptor
  bytes: Buffer
}

/** What inspecting reads. */
export interface InspectDocuments {
  /** How the user named the source. */
  source: string
  top: ReadDocument
  /** The image shown: the top document when it is a manifest, or the entry --platform selected. */
  manifest?: ReadDocument
  /** That image's config: read for an image (not an artifact), or whenever it was asked for. */
  config?: ReadDocument
}

export type EntryKind = 'image' | 'attestation' | 'artifact' | 'index'

export interface IndexEntry {
  platform: string | null
  digest: string
  mediaType: string
  size: number
  kind: EntryKind
  artifactType: string | null
  /** For an attestation: the digest of the manifest it attests. */
  attests: string | null
  annotations: Record<string, string>
}

export interface LayerFacts {
  digest: string
  mediaType: string
  size: number
  diffId: string | null
}

export interface ImageFacts {
  digest: string
  mediaType: string
  size: number
  kind: 'image' | 'artifact'
  artifactType: string | null
  platform: string | null
  config: { digest: string; mediaType: string; size: number }
  created: string | null
  author: string | null
  user: string | null
  entrypoint: string[] | null
  cmd: string[] | null
  workingDir: string | null
  env: string[]
  exposedPorts: string[]
  volumes: string[]
  stopSignal: string | null
  labels: Record<string, string>
  annotations: Record<string, string>
  layers: LayerFacts[]
}

/** The facts of an image, as `--format json` prints them (keys documented in docs/cli.md). */
export interface Inspection {
  source: string
  digest: string
  mediaType: string
  size: number
  kind: 'index' | 'image' | 'artifact'
  artifactType: string | null
  annotations: Record<string, string>
  /** The entries of an index; null for a manifest. */
  manifests: IndexEntry[] | null
  /** The image shown (a manifest, or the index entry --platform selected); null otherwise. */
  image: ImageFacts | null
}

/** What is to be read: the facts, the bytes of the shown document (--raw) or of its config. */
export type InspectWant = 'facts' | 'raw' | 'config'

export interface InspectOptions {
  platform?: Platform
  want?: InspectWant
}

type JSONObject = Record<string, unknown>

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null)
const strList = (v: unknown): string[] | null =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : null
const strMap = (v: unknown): Record<string, string> =>
  isObject(v)
    ? Object.fromEntries(
        Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string')
      )
    : {}
const keysOf = (v: unknown): string[] => (isObject(v) ? Object.keys(v).sort() : [])

function parseDocument(doc: ReadDocument, what: string): JSONObject {
  const value = parseJSONValue(doc.bytes, `the ${what} ${doc.descriptor.digest}`)
  if (!isObject(value))
    throw new LadingError(`the ${what} ${doc.descriptor.digest} is not a JSON object`)
  return value
}

/** A descriptor found in a document, checked enough to be read and shown. */
function descriptorAt(v: unknown, where: string): Descriptor {
  if (
    !isObject(v) ||
    typeof v.mediaType !== 'string' ||
    typeof v.digest !== 'string' ||
    !isDigest(v.digest) ||
    !Number.isSafeInteger(v.size) ||
    (v.size as number) < 0
  )
    throw new LadingError(
      `${where} is not a valid descriptor (needs mediaType, a sha256/sha512 digest and a size)`
    )
  const d: Descriptor = { mediaType: v.mediaType, digest: v.digest, size: v.size as number }
  const p = v.platform
  if (isObject(p) && typeof p.os === 'string' && typeof p.architecture === 'string')
    d.platform = { os: p.os, architecture: p.architecture, variant: str(p.variant) ?? undefined }
  if (isObject(v.annotations)) d.annotations = strMap(v.annotations)
  if (typeof v.artifactType === 'string') d.artifactType = v.artifactType
  return d
}

/** Whether a document is an index (else a manifest), by its own mediaType first. */
function isIndexDocument(body: JSONObject, desc: Descriptor, source: string): boolean {
  const mediaType = str(body.mediaType) ?? desc.mediaType
  if (isIndexMediaType(mediaType) || (!isManifestMediaType(mediaType) && 'manifests' in body))
    return true
  if (isManifestMediaType(mediaType) || 'config' in body) return false
  throw new LadingError(
    `${desc.digest} in ${source} is neither an image index nor a manifest (media type ${mediaType})`
  )
}

function entriesOf(body: JSONObject, desc: Descriptor): Descriptor[] {
  if (!Array.isArray(body.manifests))
    throw new LadingError(`the index ${desc.digest} has no "manifests" array`)
  return body.manifests.map((m, i) =>
    descriptorAt(m, `manifests[${i}] of the index ${desc.digest}`)
  )
}

export function entryKind(d: Descriptor): EntryKind {
  if (isIndexMediaType(d.mediaType)) return 'index'
  if (d.annotations?.[REFERENCE_TYPE] === 'attestation-manifest') return 'attestation'
  if (d.artifactType !== undefined || !isManifestMediaType(d.mediaType)) return 'artifact'
  return 'image'
}

function isImageConfig(mediaType: string): boolean {
  return mediaType === MediaType.ImageConfig || mediaType === MediaType.DockerConfig
}

/** The platforms of the images of an index, each once, for messages that ask to choose one. */
function offered(entries: Descriptor[]): string {
  const list = entries
    .filter(d => entryKind(d) === 'image' && d.platform)
    .map(d => escapedLine(formatPlatform(d.platform!)))
  return list.length ? listed([...new Set(list)]) : 'no image that names a platform'
}

/** The index entry `want` selects among the images of an index, or an error naming them. */
export function selectEntry(entries: Descriptor[], want: Platform, source: string): Descriptor {
  const hits = entries.filter(
    d => entryKind(d) === 'image' && d.platform && platformMatches(want, d.platform)
  )
  if (hits.length === 0)
    throw new LadingError(
      `no image for ${formatPlatform(want)} in ${source}; it has ${offered(entries)}`
    )
  if (new Set(hits.map(d => d.digest)).size > 1)
    throw new LadingError(
      `${hits.length} images in ${source} match ${formatPlatform(want)}: ` +
        listed(hits.map(d => `${escapedLine(formatPlatform(d.platform!))} (${d.digest})`)) +
        '; name the platform whole (os/arch/variant)'
    )
  return hits[0]
}

async function readShownDocument(source: ImageSource, desc: Descriptor): Promise<ReadDocument> {
  if (desc.size > MAX_DOCUMENT)
    throw new LadingError(
      `${desc.digest} in ${source.name} is ${desc.size} bytes, more than the ${MAX_DOCUMENT} ` +
        'Lading reads as a document'
    )
  return { descriptor: desc, bytes: await source.read(desc) }
}

/**
 * Reads what `want` needs, and nothing else: the top document, the manifest of the image shown
 * (one more read when --platform selects it in an index) and its config.
 */
export async function readDocuments(
  source: ImageSource,
  opts: InspectOptions = {}
): Promise<InspectDocuments> {
  const want = opts.want ?? 'facts'
  // A docker save tarball stores no manifest: shown is the one it implies, as skopeo shows it.
  const top = source.impliedManifest ?? (await readShownDocument(source, source.root))
  const docs: InspectDocuments = { source: source.name, top }
  const body = parseDocument(top, 'top document')
  if (isIndexDocument(body, top.descriptor, source.name)) {
    const entries = entriesOf(body, top.descriptor)
    if (!opts.platform) {
      if (want === 'config')
        throw new LadingError(
          `${source.name} is an index (it has ${offered(entries)}); ` +
            '--config needs --platform to choose one image'
        )
      return docs
    }
    docs.manifest = await readShownDocument(
      source,
      selectEntry(entries, opts.platform, source.name)
    )
  } else {
    docs.manifest = top
  }
  // --raw prints the shown document; only --platform on a single image reads on, to check it.
  if (want === 'raw' && (docs.manifest !== top || !opts.platform)) return docs
  const manifest = parseDocument(docs.manifest, 'manifest')
  if (isIndexDocument(manifest, docs.manifest.descriptor, source.name))
    throw new LadingError(
      `${docs.manifest.descriptor.digest} in ${source.name} is an index, not an image manifest`
    )
  const configDesc = descriptorAt(
    manifest.config,
    `the config of ${docs.manifest.descriptor.digest}`
  )
  const image = isImageConfig(configDesc.mediaType) && manifest.artifactType === undefined
  if (image || want === 'config') docs.config = await readShownDocument(source, configDesc)
  if (opts.platform && docs.manifest === top) checkPlatform(docs, opts.platform)
  return docs
}

/** --platform on a single image: it must be that image's platform, or the user is misled. */
function checkPlatform(docs: InspectDocuments, want: Platform): void {
  const config = docs.config && parseDocument(docs.config, 'config')
  const platform = config ? configPlatformText(config) : null
  if (!platform)
    throw new LadingError(
      `${docs.source} is a single manifest with no platform in a config; --platform selects ` +
        'an image of an index'
    )
  const [os, architecture, variant] = platform.split('/')
  if (!platformMatches(want, { os, architecture, variant }))
    throw new LadingError(
      `${docs.source} is one image, for ${platform}, not ${formatPlatform(want)}`
    )
}

function configPlatformText(config: JSONObject): string | null {
  const os = str(config.os)
  const architecture = str(config.architecture)
  if (!os || !architecture) return null
  return formatPlatform({ os, architecture, variant: str(config.variant) ?? undefined })
}

function entryOf(d: Descriptor): IndexEntry {
  const kind = entryKind(d)
  return {
    platform: d.platform ? formatPlatform(d.platform) : null,
    digest: d.digest,
    mediaType: d.mediaType,
    size: d.size,
    kind,
    artifactType: d.artifactType ?? null,
    attests: kind === 'attestation' ? (d.annotations?.[REFERENCE_DIGEST] ?? null) : null,
    annotations: d.annotations ?? {}
  }
}

function imageOf(doc: ReadDocument, configDoc: ReadDocument | undefined): ImageFacts {
  const m = parseDocument(doc, 'manifest')
  const where = doc.descriptor.digest
  const configDesc = descriptorAt(m.config, `the config of ${where}`)
  if (!Array.isArray(m.layers)) throw new LadingError(`the manifest ${where} has no "layers" array`)
  const layers = m.layers.map((l, i) => descriptorAt(l, `layers[${i}] of ${where}`))
  const artifactType = str(m.artifactType)
  const kind = isImageConfig(configDesc.mediaType) && artifactType === null ? 'image' : 'artifact'
  // An artifact's config is not an image config: none of its fields mean anything here.
  const config = kind === 'image' && configDoc ? parseDocument(configDoc, 'config') : {}
  const run = isObject(config.config) ? config.config : {}
  const rootfs = isObject(config.rootfs) ? config.rootfs : {}
  const diffIds = strList(rootfs.diff_ids) ?? []
  return {
    digest: doc.descriptor.digest,
    mediaType: str(m.mediaType) ?? doc.descriptor.mediaType,
    size: doc.descriptor.size,
    kind,
    artifactType,
    platform: configPlatformText(config),
    config: { digest: configDesc.digest, mediaType: configDesc.mediaType, size: configDesc.size },
    created: str(config.created),
    author: str(config.author),
    user: str(run.User),
    entrypoint: strList(run.Entrypoint),
    cmd: strList(run.Cmd),
    workingDir: str(run.WorkingDir),
    env: strList(run.Env) ?? [],
    exposedPorts: keysOf(run.ExposedPorts),
    volumes: keysOf(run.Volumes),
    stopSignal: str(run.StopSignal),
    labels: strMap(run.Labels),
    annotations: strMap(m.annotations),
    layers: layers.map((l, i) => ({
      digest: l.digest,
      mediaType: l.mediaType,
      size: l.size,
      diffId: kind === 'image' ? (diffIds[i] ?? null) : null
    }))
  }
}

/** The documents read → the facts shown. Pure. */
export function inspectionOf(docs: InspectDocuments): Inspection {
  const top = docs.top.descriptor
  const body = parseDocument(docs.top, 'top document')
  const manifests = isIndexDocument(body, top, docs.source)
    ? entriesOf(body, top).map(entryOf)
    : null
  const image = docs.manifest ? imageOf(docs.manifest, docs.config) : null
  return {
    source: docs.source,
    digest: top.digest,
    mediaType: str(body.mediaType) ?? top.mediaType,
    size: top.size,
    kind: manifests ? 'index' : image!.kind,
    artifactType: str(body.artifactType),
    annotations: strMap(body.annotations),
    manifests,
    image
  }
}

/**
 * A docker-archive's layers are checked against their diff_ids as it is converted; inspect
 * reads no layer, so it hands the conversion this scanner, which closes the stream unread.
 */
export async function skipLayerScan(raw: Readable): Promise<BlobScan> {
  raw.destroy()
  return { size: 0, findings: [] }
}
