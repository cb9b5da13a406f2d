/**
 * Stage 2: the platforms the run works on. Each source's graph is walked (walkGraph) for its
 * image manifests and their configs; the sources' platforms are merged (each given once) and the
 * `platforms` filter applied. Attestations (entries that describe another entry) are collected to
 * follow their subjects; other artifacts inside an index are left out, with a note. A single
 * source that holds no image at all (an artifact) is passed through whole when nothing edits it.
 */
import { walkGraph, MAX_INDEX_DEPTH } from '../../oci/graph.js'
import { MediaType, isIndexMediaType, isManifestMediaType } from '../../oci/mediatypes.js'
import {
  formatPlatform,
  normalizePlatform,
  platformMatches,
  platformOfConfig,
  platformsEqual
} from '../../oci/platform.js'
import type { Descriptor, ImageConfig, Index, Manifest, Platform } from '../../oci/types.js'
import { LadingError } from '../../util/errors.js'
import { parseJSONValue } from '../../oci/json.js'
import { scratchConfig } from '../../build/assemble.js'
import type { Plan } from '../plan.js'
import type { OpenedSource } from './open-sources.js'
import {
  DockerReference,
  isAttestationEntry,
  subjectDigest,
  type Attestation
} from './attestations.js'
import { artifactEdits } from './artifact.js'
import { escapedLine, listed } from '../../util/listing.js'

/** One platform's image, as read from a source (or made for scratch). */
export interface SourceImage {
  platform: Platform
  /** where its blobs are read; none for scratch */
  from?: OpenedSource
  manifestDesc: Descriptor
  manifestBytes: Buffer
  manifest: Manifest
  configBytes: Buffer
  config: ImageConfig
}

export interface Resolution {
  images: SourceImage[]
  /** What the walk left out (artifacts that describe nothing), for the log. */
  notes: string[]
  /** Index entries that describe one of the images (they follow it into the result or not). */
  attestations: Attestation[]
  /** The one source, when it holds no image: copied to the output as it is. */
  artifact?: OpenedSource
}

/** Reading a source failed half way: the run reports it as the source's finding. */
export class SourceUnreadable extends LadingError {
  constructor(
    readonly line: string,
    message: string
  ) {
    super(message)
  }
}

export async function resolvePlatforms(plan: Plan, sources: OpenedSource[]): Promise<Resolution> {
  if (sources.length === 0) {
    const platforms = plan.platforms.length
      ? plan.platforms
      : [{ os: 'linux', architecture: 'amd64' }]
    return { images: platforms.map(scratchImage), notes: [], attestations: [] }
  }
  const all: SourceImage[] = []
  const notes: string[] = []
  const attestations: Attestation[] = []
  for (const src of sources) {
    const found = await imagesOf(src, notes, attestations).catch(err => {
      throw err instanceof LadingError ? new SourceUnreadable(src.line, err.message) : err
    })
    if (found.length === 0) {
      const edits = artifactEdits(plan)
      if (sources.length === 1 && edits.length === 0)
        return { images: [], notes, attestations: [], artifact: src }
      throw new LadingError(
        `${src.line}: ${src.source.root.digest} holds no container image (it is an artifact, or an ` +
          `index of artifacts), so ${edits.length ? edits.join(', ') : 'a merge with other sources'} ` +
          'cannot apply to it; Lading passes an artifact through only alone and unchanged'
      )
    }
    for (const img of found) {
      const dup = all.find(o => platformsEqual(o.platform, img.platform))
      if (dup)
        throw new LadingError(
          `from: platform ${formatPlatform(img.platform)} is given twice: by "${dup.from?.line}" and by "${src.line}"; ` +
            'give each platform once, or select with platforms'
        )
      all.push(img)
    }
  }
  const kept = plan.platforms.length
    ? all.filter(img => plan.platforms.some(w => platformMatches(w, img.platform)))
    : all
  if (kept.length === 0)
    throw new LadingError(
      `platforms: none of ${plan.platforms.map(formatPlatform).join(', ')} is in the base image(s), which have ` +
        listed([...new Set(all.map(i => escapedLine(formatPlatform(i.platform))))])
    )
  return { images: kept, notes, attestations }
}

function scratchImage(p: Platform): SourceImage {
  const empty: Descriptor = { mediaType: MediaType.ImageManifest, digest: '', size: 0 }
  return {
    platform: p,
    manifestDesc: empty,
    manifestBytes: Buffer.alloc(0),
    manifest: {
      schemaVersion: 2,
      config: { ...empty, mediaType: MediaType.ImageConfig },
      layers: []
    },
    configBytes: Buffer.alloc(0),
    config: scratchConfig(p)
  }
}

interface Entry {
  desc: Descriptor
  /** the platform the index above gives it */
  platform?: Platform
}

/** The image manifests below a source's root, each with its config. */
async function imagesOf(
  src: OpenedSource,
  notes: string[],
  attestations: Attestation[]
): Promise<SourceImage[]> {
  const out: SourceImage[] = []
  const source = src.source
  await walkGraph<Entry>(
    { desc: source.root },
    {
      descriptor: n => n.desc,
      key: n => `${n.desc.digest} ${n.platform ? formatPlatform(n.platform) : ''}`,
      cycle: n => {
        throw new LadingError(`${src.line}: the index ${n.desc.digest} is nested in itself`)
      },
      tooDeep: n => {
        throw new LadingError(
          `${src.line}: the index ${n.desc.digest} is nested more than ${MAX_INDEX_DEPTH} indexes deep`
        )
      },
      children: async n => {
        const bytes = await source.read(n.desc)
        const doc = parseJSONValue(bytes, `${src.line}: ${n.desc.digest}`) as Partial<
          Index & Manifest
        >
        const mt = doc.mediaType ?? n.desc.mediaType
        if (isIndexMediaType(mt) || (Array.isArray(doc.manifests) && !doc.config))
          return indexEntries(doc, n.desc, src, notes, attestations)
        // A manifest inside an index that names a subject describes another: it follows it.
        const subject = n.desc !== source.root ? subjectDigest(doc) : undefined
        if (subject) attestations.push({ from: src, entry: n.desc, subject })
        else if (n.desc !== source.root && isAttestationEntry(n.desc))
          notes.push(`${src.line}: left out ${n.desc.digest}, an attestation that names no subject`)
        else {
          const img = await imageOf(src, n, bytes, doc, mt, notes)
          if (img) out.push(img)
        }
        return []
      }
    }
  )
  return out
}

/**
 * An index's entries that may be images. buildx's attestations (which name their subject) are
 * collected apart; anything that is not a manifest or an index is left out.
 */
function indexEntries(
  doc: Partial<Index>,
  desc: Descriptor,
  src: OpenedSource,
  notes: string[],
  attestations: Attestation[]
): Entry[] {
  const out: Entry[] = []
  let skipped = 0
  for (const child of doc.manifests ?? []) {
    const subject = child.annotations?.[DockerReference.Digest]
    if (subject) attestations.push({ from: src, entry: child, subject })
    else if (!isIndexMediaType(child.mediaType) && !isManifestMediaType(child.mediaType)) skipped++
    else out.push({ desc: child, platform: child.platform })
  }
  if (skipped)
    notes.push(
      `${src.line}: left out ${skipped} entr${skipped === 1 ? 'y' : 'ies'} of index ${desc.digest} that are neither manifests nor indexes`
    )
  return out
}

async function imageOf(
  src: OpenedSource,
  n: Entry,
  bytes: Buffer,
  doc: Partial<Manifest>,
  mediaType: string | undefined,
  notes: string[]
): Promise<SourceImage | undefined> {
  const { desc, platform } = n
  if (!doc.config || !Array.isArray(doc.layers))
    throw new LadingError(
      `${src.line}: ${desc.digest} (${mediaType ?? 'no media type'}) is neither an image manifest nor an index`
    )
  const manifest = doc as Manifest
  const configType = manifest.config.mediaType
  if (configType !== MediaType.ImageConfig && configType !== MediaType.DockerConfig) {
    // An artifact at the root: the source holds no image, which the caller decides about.
    if (platform === undefined && desc === src.source.root) return undefined
    notes.push(`${src.line}: left out artifact manifest ${desc.digest} (config ${configType})`)
    return undefined
  }
  const configBytes = await src.source.read(manifest.config)
  const what = `${src.line}: config ${manifest.config.digest}`
  const config = parseJSONValue(configBytes, what) as ImageConfig
  return {
    platform: normalizePlatform(platform ?? platformOfConfig(config)),
    from: src,
    manifestDesc: { mediaType: mediaType ?? desc.mediaType, digest: desc.digest, size: desc.size },
    manifestBytes: bytes,
    manifest,
    configBytes,
    config
  }
}
