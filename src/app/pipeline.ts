/**
 * One run: sources → resolve platforms → build layers once → mutate each platform → write a
 * staged layout → validate → swap into `output` → archive → push. Front ends call runPlan().
 */
import * as fs from 'node:fs/promises'
import * as fsSync from 'node:fs'
import * as path from 'node:path'
import { randomBytes } from 'node:crypto'
import { LadingError, messageOf } from '../util/errors.js'
import { removeAllTemps, removeTemp, trackTemp, untrackTemp } from '../util/temps.js'
import { reportPath, type Plan } from './plan.js'
import { MediaType, isIndexMediaType, isManifestMediaType } from '../oci/mediatypes.js'
import {
  normalizePlatform,
  formatPlatform,
  platformMatches,
  platformOfConfig,
  platformsEqual
} from '../oci/platform.js'
import { formatReference, repositoryName } from '../oci/reference.js'
import type { Descriptor, ImageConfig, Index, Manifest, Platform } from '../oci/types.js'
import { Annotation } from '../oci/types.js'
import { BlobStore, writeLayoutIndex } from '../transports/blobstore.js'
import type { BlobReader, ImageSource, RegistryOrigin } from '../oci/blobs.js'
import { openSource } from './sources.js'
import type { SourceSpec } from '../transports/spec.js'
import { LayoutSource } from '../transports/layout.js'
import { writeOciArchive } from '../transports/archive-writer.js'
import { buildLayer } from '../build/layer/index.js'
import {
  editConfig,
  hasConfigEdits,
  makeIndex,
  makeManifest,
  scratchConfig,
  type NewLayer
} from '../build/assemble.js'
import {
  dedupeFindings,
  makeFinding,
  validateImage,
  validateLayout,
  makeReport,
  scanKey,
  type Finding,
  type Report,
  ScanCache,
  layerChecks
} from '../validate/index.js'
import { MemoryRelief } from '../util/memory.js'
import { mapLimited } from '../util/limit.js'
import { pushImage } from '../registry/index.js'

export interface Logger {
  info(msg: string): void
  warning(msg: string): void
}

export interface PlatformResult {
  platform: string
  digest: string
  configDigest: string
  layers: Descriptor[]
  source: string
}

export interface RunResult {
  digest: string
  mediaType: string
  size: number
  configDigest?: string
  platforms: string[]
  images: PlatformResult[]
  layout?: string
  archive?: string
  imageRefs: string[]
  imageName: string
  report: Report
  /** Blobs the image references that the layout does not hold (registry-base layers never downloaded). */
  notDownloaded: string[]
  pushed?: { uploaded: number; mounted: number; skipped: number; bytesUploaded: number }
}

/** Raised when validation fails at fail-on: carries the report so front ends can still write it. */
export class ValidationFailed extends LadingError {
  constructor(
    readonly report: Report,
    readonly what: string
  ) {
    const first = report.findings
      .filter(f => f.severity === 'error')
      .slice(0, 3)
      .map(f => `\n  ${f.rule}: ${f.location}: ${f.message}`)
      .join('')
    super(
      `${what} failed validation: ${report.errors} error(s), ${report.warnings} warning(s); ` +
        `nothing was written or pushed (see the report; fail-on decides what fails the step)` +
        first
    )
  }
}

/**
 * Raised when the image was built, validated and written but the push failed: carries what was
 * done, so the front ends still report the digest, the layout and the report.
 */
export class PushFailed extends LadingError {
  constructor(
    readonly result: RunResult,
    message: string
  ) {
    super(`the image ${result.digest} was written to ${result.layout} but not pushed: ${message}`)
  }
}

/** One platform of a source image, as read. */
interface SourceImage {
  platform: Platform
  source: ImageSource
  line: string
  manifestDesc: Descriptor
  manifestBytes: Buffer
  manifest: Manifest
  configBytes: Buffer
  config: ImageConfig
}

/**
 * Layers built at once. Each already compresses on every core; a second one overlaps its reading of
 * files with the other's compression, while more would only add memory.
 */
const LAYERS_AT_ONCE = 2

export async function runPlan(plan: Plan, log: Logger): Promise<RunResult> {
  const sources: ImageSource[] = []
  const base = path.basename(plan.output)
  const stage = path.join(
    path.dirname(plan.output),
    `.${base}.lading-${process.pid}-${randomBytes(4).toString('hex')}`
  )
  const findings: Finding[] = []
  const sourceVerified = new Set<ImageSource>()
  // Every blob this run reads and checks (a source's, or a layer as it is built) is checked once:
  // the assembled layout's validation takes those results instead of reading the blobs again.
  const scans = new ScanCache()
  const relief = new MemoryRelief()
  // A run stopped by a signal (a cancelled workflow) must not leave its staging layout behind.
  trackTemp(stage)
  const onSignal = (sig: NodeJS.Signals) => {
    removeAllTemps()
    process.exit(sig === 'SIGINT' ? 130 : 143)
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    await prepareOutput(plan)
    await removeStaleStages(path.dirname(plan.output), base)
    // A report left by an earlier run must not pass for this run's.
    await fs.rm(reportPath(plan.output), { force: true }).catch(() => undefined)

    // 1. Open and validate every source before using it; what cannot be read is a finding too.
    for (const f of plan.from) {
      if (f.spec.kind === 'scratch') continue
      const { source, findings: found } = await openAndValidate(f.spec, f.line, plan.auth, {
        scans
      })
      findings.push(...found)
      if (!source) continue
      sources.push(source)
      if (!source.origin && !found.some(x => x.severity === 'error')) sourceVerified.add(source)
    }
    const sourceReport = makeReport(findings, plan.failOn)
    // An unreadable source fails the run even at fail-on never: there is nothing to build from.
    if (
      (plan.failOn !== 'never' && !sourceReport.valid) ||
      findings.some(x => x.rule === 'source-unreadable')
    )
      throw new ValidationFailed(sourceReport, 'a source image')

    // 2. Resolve the platforms the run works on.
    // Notes on what resolution left out hold until we know whether a source is copied whole.
    const notes: string[] = []
    const images = await resolveImages(
      plan,
      sources,
      { info: m => notes.push(m), warning: m => log.warning(m) },
      findings
    )

    const store = new BlobStore(stage, relief)
    await store.init()

    // 3. New layers, built once and shared by every platform.
    const newLayers: NewLayer[] = await mapLimited(plan.layers, LAYERS_AT_ONCE, async l => {
      const built = await buildLayer(l, store, {
        compression: plan.compression,
        level: plan.compressionLevel,
        mtime: plan.created,
        checks: layerChecks,
        relief,
        // Never pack Lading's own outputs into a layer built from a directory that holds them.
        exclude: [
          plan.output,
          reportPath(plan.output),
          ...(plan.archive ? [plan.archive] : []),
          path.join(path.dirname(plan.output), `.${base}.lading-*`)
        ]
      })
      if (built.scan) scans.set(scanKey(built.descriptor), Promise.resolve(built.scan))
      return built
    })
    plan.layers.forEach((l, i) => {
      const built = newLayers[i]
      log.info(
        `layer ${l.spec}: ${built.descriptor.digest} (${built.descriptor.size} bytes, ${built.descriptor.mediaType})`
      )
    })

    // 4. Each platform: keep verbatim, or mutate.
    const mutate =
      newLayers.length > 0 ||
      hasConfigEdits(plan.config) ||
      Object.keys(plan.annotations.manifest).length > 0
    const manifestAnnotations = { ...plan.defaultAnnotations, ...plan.annotations.manifest }
    /** Every blob (config, layer, attestation content) the result references, and where it is read. */
    const blobs = new Map<
      string,
      { descriptor: Descriptor; reader: BlobReader; origin?: RegistryOrigin }
    >()
    const addBlob = (descriptor: Descriptor, reader: BlobReader) => {
      if (!blobs.has(descriptor.digest))
        // The origin stays a mount hint even once the blob is copied into the layout.
        blobs.set(descriptor.digest, { descriptor, reader, origin: reader.origin })
    }
    const manifests = new Map<string, { descriptor: Descriptor; bytes: Buffer }>()
    const results: PlatformResult[] = []
    const resultDescs: Descriptor[] = []
    for (const img of images) {
      if (!mutate && img.manifestBytes.length) {
        await store.writeBuffer(img.manifestBytes)
        await store.writeBuffer(img.configBytes)
        manifests.set(img.manifestDesc.digest, {
          descriptor: img.manifestDesc,
          bytes: img.manifestBytes
        })
        addBlob(img.manifest.config, store)
        for (const l of img.manifest.layers) addBlob(l, img.source)
        const desc = {
          mediaType: img.manifestDesc.mediaType,
          digest: img.manifestDesc.digest,
          size: img.manifestDesc.size,
          platform: img.platform
        }
        resultDescs.push(desc)
        results.push({
          platform: formatPlatform(img.platform),
          digest: desc.digest,
          configDigest: img.manifest.config.digest,
          layers: img.manifest.layers,
          source: img.line
        })
        continue
      }
      const config = editConfig(img.config, plan.config, newLayers, plan.created)
      const configDesc = await store.writeJSON(config, MediaType.ImageConfig)
      const annotations = { ...manifestAnnotations }
      if (img.source.origin && img.line) {
        annotations[Annotation.BaseName] = img.line.replace(/^docker:\/\//, '')
        annotations[Annotation.BaseDigest] = img.manifestDesc.digest
      }
      const manifest = makeManifest(configDesc, img.manifest.layers, newLayers, annotations)
      addBlob(manifest.config, store)
      manifest.layers.forEach((l, i) =>
        addBlob(l, i < img.manifest.layers.length ? img.source : store)
      )
      const mdesc = await store.writeJSON(manifest, MediaType.ImageManifest)
      manifests.set(mdesc.digest, {
        descriptor: { mediaType: mdesc.mediaType, digest: mdesc.digest, size: mdesc.size },
        bytes: mdesc.bytes
      })
      const desc: Descriptor = {
        mediaType: MediaType.ImageManifest,
        digest: mdesc.digest,
        size: mdesc.size,
        platform: img.platform
      }
      resultDescs.push(desc)
      results.push({
        platform: formatPlatform(img.platform),
        digest: mdesc.digest,
        configDigest: configDesc.digest,
        layers: manifest.layers,
        source: img.line || 'scratch'
      })
    }

    // A single source index taken whole (nothing changed, nothing filtered) keeps its bytes, its
    // digest and what else it holds (attestations, artifacts): a copy, not a rebuild.
    let root: Descriptor | undefined
    const single = sources.length === 1 ? sources[0] : undefined
    if (
      single &&
      !mutate &&
      plan.platforms.length === 0 &&
      Object.keys(plan.annotations.index).length === 0 &&
      isIndexMediaType(single.root.mediaType)
    ) {
      const graph = await collectGraph(single, single.root)
      for (const m of graph.manifests.values()) {
        await store.writeBuffer(m.bytes)
        manifests.set(m.descriptor.digest, m)
      }
      for (const b of graph.blobs.values()) addBlob(b, single)
      root = {
        mediaType: single.root.mediaType,
        digest: single.root.digest,
        size: single.root.size
      }
    }

    if (!root) for (const n of notes) log.info(n)

    // 5. Base blobs: copied into the layout, except registry layers when pushing (mounted or streamed instead).
    const notDownloaded: string[] = []
    for (const [digest, entry] of blobs) {
      const { descriptor: desc, reader } = entry
      if (reader === store) continue
      if (await store.has(digest)) {
        entry.reader = store
        continue
      }
      // When pushing, registry layers stay where they are (mounted or streamed by the push), and so
      // do layers a layout Lading wrote while pushing left out; an archive must be complete, though.
      const lazy = plan.push && !plan.archive
      if (lazy && reader.origin) {
        notDownloaded.push(digest)
        continue
      }
      const present = await reader.has(desc)
      if (lazy && !present) {
        notDownloaded.push(digest)
        continue
      }
      if (!present) {
        throw unreadable(
          new LadingError(
            `blob ${digest} (${desc.mediaType}) is missing, so the image cannot be completed ` +
              '(a layout Lading wrote while pushing leaves registry base layers out: build it ' +
              'again without pushing, or use the registry image itself as the base)'
          ),
          reader.name,
          findings,
          plan
        )
      }
      try {
        if (reader instanceof LayoutSource && sourceVerified.has(reader)) {
          // Its digest was checked when the source was validated: link or copy the file, no re-hash.
          await store.linkOrCopy(reader.blobPath(digest), digest)
        } else {
          log.info(`copying ${desc.mediaType} ${digest} from ${reader.name}`)
          await store.writeStream(
            await reader.open(desc),
            desc,
            `blob ${digest} from ${reader.name}`
          )
        }
      } catch (err) {
        throw unreadable(err, reader.name, findings, plan)
      }
      entry.reader = store
    }

    // 6. The root: a manifest for one platform, an index for several or when index annotations are asked for.
    const indexAnnotations = { ...plan.defaultAnnotations, ...plan.annotations.index }
    if (root) {
      // the source index, copied whole
    } else if (resultDescs.length === 1 && Object.keys(plan.annotations.index).length === 0) {
      root = {
        mediaType: resultDescs[0].mediaType,
        digest: resultDescs[0].digest,
        size: resultDescs[0].size
      }
    } else {
      const index = makeIndex(resultDescs, indexAnnotations)
      const idesc = await store.writeJSON(index, MediaType.ImageIndex)
      root = { mediaType: MediaType.ImageIndex, digest: idesc.digest, size: idesc.size }
      manifests.set(root.digest, { descriptor: root, bytes: idesc.bytes })
    }
    await writeLayoutIndex(stage, [
      { ...root, annotations: { [Annotation.RefName]: plan.refName } }
    ])
    await store.finish()

    // 7. Validate what was assembled, before anything leaves the machine.
    const readBefore = scans.reads
    const reusedBefore = scans.reused
    const outFindings = await validateLayout(stage, {
      requireAllBlobs: plan.push,
      notDownloaded: new Set(notDownloaded),
      scans
    })
    log.info(
      `validated the assembled layout: ${scans.reads - readBefore} blob(s) read, ` +
        `${scans.reused - reusedBefore} already checked in this run (built, or read in a source)`
    )
    const report = makeReport(dedupeFindings([...findings, ...outFindings.findings]), plan.failOn)
    if (plan.failOn !== 'never' && !report.valid)
      throw new ValidationFailed(report, 'the assembled image')

    // The archive is written from the staged layout, so a failure leaves the old output in place.
    let archive: string | undefined
    if (plan.archive) {
      try {
        await writeOciArchive(stage, plan.archive)
      } catch (err) {
        throw err instanceof LadingError
          ? err
          : new LadingError(`archive: could not write ${plan.archive}: ${messageOf(err)}`)
      }
      archive = plan.archive
    }
    await swapInto(stage, plan.output)
    untrackTemp(stage)

    const imageName = plan.pushByDigest
      ? [...new Set(plan.tags.map(t => repositoryName(t)))].join(',')
      : plan.tags.map(t => formatReference(t)).join(',')
    const result: RunResult = {
      digest: root.digest,
      mediaType: root.mediaType,
      size: root.size,
      configDigest: results.length === 1 ? results[0].configDigest : undefined,
      platforms: results.map(r => r.platform),
      images: results,
      layout: plan.output,
      archive,
      imageRefs: [],
      imageName,
      report,
      notDownloaded
    }

    // 8. Push.
    if (plan.push) {
      const outStore = new BlobStore(plan.output)
      const pushBlobs = [...blobs.values()].map(({ descriptor, reader, origin }) => ({
        descriptor,
        reader: reader === store ? outStore : reader,
        origin
      }))
      try {
        const res = await pushImage(
          {
            targets: plan.tags,
            root,
            manifests,
            blobs: pushBlobs,
            pushByDigest: plan.pushByDigest
          },
          { ...plan.auth, log: m => log.info(m) }
        )
        result.imageRefs = res.refs
        result.pushed = {
          uploaded: res.uploaded,
          mounted: res.mounted,
          skipped: res.skipped,
          bytesUploaded: res.bytesUploaded
        }
      } catch (err) {
        if (err instanceof LadingError) throw new PushFailed(result, err.message)
        throw err
      }
    }
    return result
  } catch (err) {
    await removeTemp(stage).catch(() => undefined)
    throw err
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    for (const s of sources) await s.close?.().catch(() => undefined)
  }
}

/**
 * A source that could not be read to the end is a validation failure like any other: the report
 * keeps what was found so far and names what could not be read.
 */
function unreadable(err: unknown, location: string, findings: Finding[], plan: Plan): unknown {
  if (!(err instanceof LadingError) || err instanceof ValidationFailed) return err
  const all = dedupeFindings([...findings, makeFinding('source-unreadable', location, err.message)])
  return new ValidationFailed(makeReport(all, plan.failOn), 'a source image')
}

/**
 * Opens the image a `from` line names and validates it: a layout (or an unpacked archive) with its
 * layout-level rules, anything else from its root. One that cannot be opened is a finding. The
 * caller closes the source. Registry layers are not downloaded unless `checkLayers` says so.
 */
export async function openAndValidate(
  spec: SourceSpec,
  line: string,
  auth: Plan['auth'],
  opts: { checkLayers?: boolean; scans?: ScanCache } = {}
): Promise<{ source?: ImageSource; findings: Finding[] }> {
  let source: ImageSource
  try {
    source = await openSource(spec, line, auth)
  } catch (err) {
    if (!(err instanceof LadingError)) throw err
    // A layout that cannot be opened usually has layout-level findings that say why.
    const layoutFindings =
      spec.kind === 'oci' ? within(line, (await validateLayout(spec.path)).findings) : []
    return {
      findings: layoutFindings.some(x => x.severity === 'error')
        ? layoutFindings
        : [makeFinding('source-unreadable', line, err.message)]
    }
  }
  const scans = opts.scans ?? new ScanCache()
  // A docker-archive's layers were read and checked as it was converted: not again.
  if (source instanceof LayoutSource)
    for (const [key, scan] of source.scanned ?? []) scans.set(key, Promise.resolve(scan))
  const findings =
    source instanceof LayoutSource
      ? within(line, (await validateLayout(source.dir, { scans })).findings)
      : await validateImage(source, source.root, {
          location: line,
          checkLayers: opts.checkLayers ?? !source.origin,
          scans
        })
  return { source, findings }
}

/** Findings of a source layout, their locations prefixed with the `from` line. */
function within(line: string, found: Finding[]): Finding[] {
  return found.map(f => ({ ...f, location: `${line} ${f.location}` }))
}

/**
 * Checks the output and archive locations before anything is built, creating the parent
 * directories one at a time (Node's recursive mkdir can spin on paths such as /proc/x/y).
 */
async function prepareOutput(plan: Plan): Promise<void> {
  await mkdirParents(path.dirname(plan.output), 'output', plan.output)
  await replaceableOutput(plan.output)
  if (plan.archive) {
    await mkdirParents(path.dirname(plan.archive), 'archive', plan.archive)
    try {
      if ((await fs.stat(plan.archive)).isDirectory())
        throw new LadingError(`archive: "${plan.archive}" is a directory; give a file path`)
    } catch (err) {
      if (err instanceof LadingError) throw err
    }
  }
}

async function mkdirParents(dir: string, input: string, value: string): Promise<void> {
  const missing: string[] = []
  let cur = dir
  for (;;) {
    try {
      const st = await fs.stat(cur)
      if (!st.isDirectory())
        throw new LadingError(`${input}: cannot create "${value}": ${cur} is not a directory`)
      break
    } catch (err) {
      if (err instanceof LadingError) throw err
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new LadingError(`${input}: cannot create "${value}": ${messageOf(err)}`)
      missing.unshift(cur)
      const up = path.dirname(cur)
      if (up === cur) break
      cur = up
    }
  }
  for (const d of missing) {
    try {
      await fs.mkdir(d)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
        throw new LadingError(`${input}: cannot create "${value}": ${messageOf(err)}`)
    }
  }
  try {
    await fs.access(dir, fsSync.constants.W_OK)
  } catch (err) {
    throw new LadingError(`${input}: cannot write in ${dir}: ${messageOf(err)}`)
  }
}

/** Staging layouts left by runs that were killed (their process is gone) are removed. */
async function removeStaleStages(dir: string, base: string): Promise<void> {
  const prefix = `.${base}.lading-`
  let names: string[]
  try {
    names = await fs.readdir(dir)
  } catch {
    return
  }
  for (const n of names) {
    if (!n.startsWith(prefix)) continue
    const pid = Number(n.slice(prefix.length).split('-')[0])
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue
    let alive = true
    try {
      process.kill(pid, 0)
    } catch (err) {
      alive = (err as NodeJS.ErrnoException).code === 'EPERM'
    }
    if (!alive) await fs.rm(path.join(dir, n), { recursive: true, force: true })
  }
}

/** Every manifest (with its bytes) and every other blob below `root`, nested indexes included. */
async function collectGraph(
  src: ImageSource,
  root: Descriptor
): Promise<{
  manifests: Map<string, { descriptor: Descriptor; bytes: Buffer }>
  blobs: Map<string, Descriptor>
}> {
  const manifests = new Map<string, { descriptor: Descriptor; bytes: Buffer }>()
  const blobs = new Map<string, Descriptor>()
  const visit = async (desc: Descriptor): Promise<void> => {
    if (manifests.has(desc.digest)) return
    const bytes = await src.read(desc)
    manifests.set(desc.digest, {
      descriptor: { mediaType: desc.mediaType, digest: desc.digest, size: desc.size },
      bytes
    })
    const doc = parseJSON<Partial<Index & Manifest>>(bytes, `${src.name}: ${desc.digest}`)
    for (const child of doc.manifests ?? [])
      if (isIndexMediaType(child.mediaType) || isManifestMediaType(child.mediaType))
        await visit(child)
      else if (!blobs.has(child.digest)) blobs.set(child.digest, child)
    for (const b of [...(doc.config ? [doc.config] : []), ...(doc.layers ?? [])])
      if (!blobs.has(b.digest)) blobs.set(b.digest, b)
  }
  await visit(root)
  return { manifests, blobs }
}

/** Reads every source's platforms, merges them, applies the platform filter. */
async function resolveImages(
  plan: Plan,
  sources: ImageSource[],
  log: Logger,
  findings: Finding[]
): Promise<SourceImage[]> {
  if (sources.length === 0) {
    const platforms = plan.platforms.length
      ? plan.platforms
      : [{ os: 'linux', architecture: 'amd64' }]
    return platforms.map(p => scratchImage(p))
  }
  const all: SourceImage[] = []
  for (const [i, src] of sources.entries()) {
    const line = plan.from.filter(f => f.spec.kind !== 'scratch')[i].line
    const found = await walk(src, line, src.root, undefined, log).catch(err => {
      throw unreadable(err, line, findings, plan)
    })
    for (const img of found) {
      const dup = all.find(o => platformsEqual(o.platform, img.platform))
      if (dup)
        throw new LadingError(
          `from: platform ${formatPlatform(img.platform)} is given twice: by "${dup.line}" and by "${line}"; ` +
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
        all.map(i => formatPlatform(i.platform)).join(', ')
    )
  return kept
}

function scratchImage(p: Platform): SourceImage {
  const config = scratchConfig(p)
  return {
    platform: p,
    source: emptySource,
    line: '',
    manifestDesc: { mediaType: MediaType.ImageManifest, digest: '', size: 0 },
    manifestBytes: Buffer.alloc(0),
    manifest: {
      schemaVersion: 2,
      config: { mediaType: MediaType.ImageConfig, digest: '', size: 0 },
      layers: []
    },
    configBytes: Buffer.alloc(0),
    config
  }
}

const emptySource: ImageSource = {
  name: 'scratch',
  root: { mediaType: MediaType.ImageManifest, digest: '', size: 0 },
  open: () => Promise.reject(new Error('scratch has no blobs')),
  read: () => Promise.reject(new Error('scratch has no blobs')),
  has: () => Promise.resolve(false)
}

function parseJSON<T>(bytes: Buffer, what: string): T {
  try {
    return JSON.parse(bytes.toString('utf8')) as T
  } catch (err) {
    throw new LadingError(`${what} is not valid JSON: ${messageOf(err)}`)
  }
}

async function walk(
  src: ImageSource,
  line: string,
  desc: Descriptor,
  platform: Platform | undefined,
  log: Logger
): Promise<SourceImage[]> {
  const bytes = await src.read(desc)
  const doc = parseJSON<Partial<Index & Manifest>>(bytes, `${line}: ${desc.digest}`)
  const mt = doc.mediaType ?? desc.mediaType
  if (isIndexMediaType(mt) || (Array.isArray(doc.manifests) && !doc.config)) {
    const out: SourceImage[] = []
    let skipped = 0
    for (const child of doc.manifests ?? []) {
      if (
        child.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' ||
        (child.platform?.os === 'unknown' && child.platform?.architecture === 'unknown')
      ) {
        skipped++
        continue
      }
      if (!isIndexMediaType(child.mediaType) && !isManifestMediaType(child.mediaType)) {
        skipped++
        continue
      }
      out.push(...(await walk(src, line, child, child.platform, log)))
    }
    if (skipped)
      log.info(
        `${line}: left out ${skipped} attestation or non-image manifest(s) of index ${desc.digest}`
      )
    return out
  }
  if (!doc.config || !Array.isArray(doc.layers))
    throw new LadingError(
      `${line}: ${desc.digest} (${mt ?? 'no media type'}) is neither an image manifest nor an index`
    )
  const manifest = doc as Manifest
  if (
    manifest.config.mediaType !== MediaType.ImageConfig &&
    manifest.config.mediaType !== MediaType.DockerConfig
  ) {
    if (platform === undefined && desc === src.root)
      throw new LadingError(
        `${line}: ${desc.digest} is an artifact (config ${manifest.config.mediaType}), not a container image`
      )
    log.info(
      `${line}: left out artifact manifest ${desc.digest} (config ${manifest.config.mediaType})`
    )
    return []
  }
  const configBytes = await src.read(manifest.config)
  const config = parseJSON<ImageConfig>(configBytes, `${line}: config ${manifest.config.digest}`)
  const p = platform ?? platformOfConfig(config)
  return [
    {
      platform: normalizePlatform(p),
      source: src,
      line,
      manifestDesc: { mediaType: mt ?? desc.mediaType, digest: desc.digest, size: desc.size },
      manifestBytes: bytes,
      manifest,
      configBytes,
      config
    }
  ]
}

/**
 * Moves the finished layout into place. A directory already there is replaced only when it is
 * an OCI layout (or empty): Lading never deletes a directory it did not make.
 */
async function swapInto(stage: string, output: string): Promise<void> {
  // Checked again: the run took time, and the directory may have changed meanwhile.
  const exists = await replaceableOutput(output)
  const old = `${stage}.old`
  if (exists) await fs.rename(output, old)
  await fs.rename(stage, output)
  if (exists) await fs.rm(old, { recursive: true, force: true })
}

/**
 * Whether `output` exists; throws when it is there but may not be replaced: Lading only ever
 * replaces an OCI layout or an empty directory, never a directory it did not make.
 */
async function replaceableOutput(output: string): Promise<boolean> {
  let entries: string[]
  try {
    if (!(await fs.stat(output)).isDirectory())
      throw new LadingError(`output: "${output}" exists and is not a directory`)
    entries = await fs.readdir(output)
  } catch (err) {
    if (err instanceof LadingError) throw err
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw new LadingError(`output: cannot use "${output}": ${messageOf(err)}`)
  }
  if (entries.length > 0 && !entries.includes('oci-layout'))
    throw new LadingError(
      `output: "${output}" exists and is not an OCI layout; refusing to replace it (choose another output)`
    )
  return true
}
