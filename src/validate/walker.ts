/**
 * Walks an image graph (index → manifests → config + layers), reading every blob through a
 * BlobReader exactly once (cached by digest), and turns every problem, including I/O failures
 * and nonsense input, into findings. Nothing here throws for bad input.
 */
import { createHash } from 'node:crypto'
import type { Readable } from 'node:stream'
import type { BlobReader } from '../oci/blobs.js'
import type { Descriptor, Platform } from '../oci/types.js'
import {
  MediaType,
  isIndexMediaType,
  isManifestMediaType,
  layerCompression
} from '../oci/mediatypes.js'
import { platformsEqual, formatPlatform, platformOfConfig } from '../oci/platform.js'
import { messageOf } from '../util/errors.js'
import { finding, type Finding } from './rules.js'
import { isObject } from '../oci/json.js'
import { parseDocument as parseJSON } from './json.js'
import { isRegisteredAlgorithm } from '../oci/digest.js'
import { at, checkConfig, checkDescriptor, checkIndex, checkManifest } from './document/index.js'
import { layerLocation, scanBlob, type ScanResult } from './layer.js'
import { ScanCache, scanKey } from '../oci/scan.js'

export interface WalkOptions {
  requireAllBlobs?: boolean
  notDownloaded?: Set<string>
  checkLayers?: boolean
  scans?: ScanCache
}

/** JSON documents (manifests, indexes, configs) larger than this are not parsed. */
const MAX_JSON = 16 * 1024 * 1024
const MAX_DEPTH = 16
/** Layers of a manifest read at once beyond the one whose findings are being taken. */
const LAYERS_AHEAD = 2

interface JsonBlob {
  size: number
  digest?: string
  bytes?: Buffer
  readError?: string
}

/** How to name a blob in a location: `PREFIX sha256:0123456789ab…` or, in a layout, `blobs/sha256/0123…`. */
export type BlobNamer = (digest: string) => string

/** The algorithm of `rootfs.diff_ids[i]` when it is sha512 (the other registered one), else sha256. */
function diffAlgorithmOf(config: Record<string, unknown> | undefined, i: number): string {
  const rootfs = config?.rootfs
  const id = isObject(rootfs) && Array.isArray(rootfs.diff_ids) ? rootfs.diff_ids[i] : undefined
  return typeof id === 'string' && id.startsWith('sha512:') ? 'sha512' : 'sha256'
}

export class Walker {
  readonly findings: Finding[] = []
  private readonly json = new Map<string, Promise<JsonBlob>>()
  private readonly scans: ScanCache
  /** Scan keys this walk has read or reused, for the cache's counts. */
  private readonly counted = new Set<string>()
  private readonly reportedContent = new Set<string>()
  /** Subtrees already walked, keyed by digest (and, for manifests, the platform the index names). */
  private readonly walked = new Set<string>()
  private readonly seenFindings = new Set<string>()
  /** Digests of blobs read to their end, so a layout check does not read them again. */
  readonly hashed = new Set<string>()

  constructor(
    private readonly reader: BlobReader,
    private readonly opts: WalkOptions,
    private readonly blobName: BlobNamer
  ) {
    this.scans = opts.scans ?? new ScanCache()
  }

  /** A finding reached through several paths (shared indexes, manifests) is reported once. */
  private add(...f: Finding[]): void {
    for (const x of f) {
      const key = `${x.rule}\0${x.location}\0${x.message}`
      if (this.seenFindings.has(key)) continue
      this.seenFindings.add(key)
      this.findings.push(x)
    }
  }

  /** Checks a descriptor; walks what it references when its blob is present and readable. */
  async node(
    d: unknown,
    loc: string,
    depth = 0,
    platform?: Platform,
    visiting = new Set<string>()
  ): Promise<void> {
    try {
      await this.nodeUnsafe(d, loc, depth, platform, visiting)
    } catch (err) {
      // A bug or an unforeseen input must still end in a report, never a crash.
      this.add(finding('blob-unreadable', loc, `could not be checked: ${messageOf(err)}`))
    }
  }

  private async nodeUnsafe(
    d: unknown,
    loc: string,
    depth: number,
    platform: Platform | undefined,
    visiting: Set<string>
  ): Promise<void> {
    if (!isObject(d) || typeof d.mediaType !== 'string') return
    const desc = d as unknown as Descriptor
    if (isIndexMediaType(desc.mediaType)) {
      if (visiting.has(desc.digest)) {
        this.add(finding('index-cycle', loc, `the index ${desc.digest} is nested in itself`))
        return
      }
      if (depth > MAX_DEPTH) {
        this.add(
          finding(
            'index-depth',
            loc,
            `the index ${desc.digest} is nested more than ${MAX_DEPTH} indexes deep; Lading does not walk deeper`
          )
        )
        return
      }
      const doc = await this.document(desc, loc, 'index')
      if (doc === undefined) return
      // Without this, an index listing the same child n times, k levels deep, costs n^k walks.
      if (this.walked.has(desc.digest)) return
      this.walked.add(desc.digest)
      const where = `${this.blobName(desc.digest)} (index)`
      const out: Finding[] = []
      checkIndex(doc, where, out)
      this.add(...out)
      this.checkOwnType(doc, desc, where)
      if (!isObject(doc) || !Array.isArray(doc.manifests)) return
      const inner = new Set(visiting).add(desc.digest)
      for (let i = 0; i < doc.manifests.length; i++)
        await this.entry(doc.manifests[i], at(where, `manifests[${i}]`), depth + 1, inner)
    } else if (isManifestMediaType(desc.mediaType)) {
      await this.manifest(desc, loc, platform)
    } else {
      // An unknown media type in an index must not be an error: only its bytes are verified.
      await this.opaque(desc, loc)
    }
  }

  /** An index entry: the descriptor rules were applied with the index; here, what it points at. */
  async entry(d: unknown, loc: string, depth: number, visiting: Set<string>): Promise<void> {
    if (!isObject(d)) return
    const out: Finding[] = []
    if (!checkDescriptor(d, loc, out)) return
    const p = d.platform
    const platform =
      isObject(p) && typeof p.os === 'string' && typeof p.architecture === 'string'
        ? (p as unknown as Platform)
        : undefined
    await this.node(d, loc, depth, platform, visiting)
  }

  private checkOwnType(doc: unknown, desc: Descriptor, where: string): void {
    if (isObject(doc) && typeof doc.mediaType === 'string' && doc.mediaType !== desc.mediaType)
      this.add(
        finding(
          'descriptor-mediatype-mismatch',
          where,
          `the document says \`mediaType\` "${doc.mediaType}" but it is referenced as "${desc.mediaType}"`
        )
      )
  }

  private async manifest(desc: Descriptor, loc: string, platform?: Platform): Promise<void> {
    const doc = await this.document(desc, loc, 'manifest')
    if (doc === undefined) return
    const key = `${desc.digest} ${platform ? JSON.stringify(platform) : ''}`
    if (this.walked.has(key)) return
    this.walked.add(key)
    const where = `${this.blobName(desc.digest)} (manifest)`
    const out: Finding[] = []
    checkManifest(doc, where, out)
    this.add(...out)
    this.checkOwnType(doc, desc, where)
    if (!isObject(doc)) return

    let config: Record<string, unknown> | undefined
    const cd = doc.config
    const cloc = at(where, 'config')
    if (isObject(cd) && checkDescriptor(cd, cloc, [])) {
      const cdesc = cd as unknown as Descriptor
      if (cdesc.mediaType === MediaType.ImageConfig || cdesc.mediaType === MediaType.DockerConfig) {
        const cdoc = await this.document(cdesc, cloc, 'config')
        if (cdoc !== undefined) {
          const cwhere = `${this.blobName(cdesc.digest)} (config)`
          const cout: Finding[] = []
          checkConfig(cdoc, cwhere, cout)
          this.add(...cout)
          if (isObject(cdoc)) config = cdoc
        }
      } else await this.opaque(cdesc, cloc)
    }

    if (
      config &&
      platform &&
      typeof config.os === 'string' &&
      typeof config.architecture === 'string'
    ) {
      const cp = platformOfConfig(config as Parameters<typeof platformOfConfig>[0])
      if (!platformsEqual(platform, cp))
        this.add(
          finding(
            'platform-mismatch',
            loc,
            `the index says platform ${formatPlatform(platform)} but the config says ${formatPlatform(cp)}`
          )
        )
    }

    const layers = Array.isArray(doc.layers) ? doc.layers : []
    const diffIds: Array<string | undefined> = []
    // Layers are read a few at a time (their decompression runs on other cores), while their
    // findings are still taken in order, so the report does not depend on which finished first.
    const readAhead = (i: number): void => {
      const l = layers[i]
      if (this.opts.checkLayers === false || !isObject(l) || !checkDescriptor(l, '', [])) return
      const d = l as unknown as Descriptor
      // Layers left in their registry are not there to read.
      if (!isRegisteredAlgorithm(d.digest) || this.opts.notDownloaded?.has(d.digest)) return
      this.scan(d, layerCompression(d.mediaType) !== undefined, diffAlgorithmOf(config, i)).catch(
        () => {}
      )
    }
    for (let i = 0; i < Math.min(LAYERS_AHEAD, layers.length); i++) readAhead(i)
    for (let i = 0; i < layers.length; i++) {
      if (i + LAYERS_AHEAD < layers.length) readAhead(i + LAYERS_AHEAD)
      const l = layers[i]
      const lloc = at(where, `layers[${i}]`)
      if (!isObject(l) || !checkDescriptor(l, lloc, [])) {
        diffIds.push(undefined)
        continue
      }
      diffIds.push(await this.layer(l as unknown as Descriptor, lloc, diffAlgorithmOf(config, i)))
    }

    if (!config) return
    const rootfs = config.rootfs
    const cwhere = `${this.blobName((cd as unknown as Descriptor).digest)} (config)`
    if (isObject(rootfs) && Array.isArray(rootfs.diff_ids)) {
      const ids = rootfs.diff_ids
      if (ids.length !== layers.length)
        this.add(
          finding(
            'config-diff-ids',
            cwhere,
            `\`rootfs.diff_ids\` has ${ids.length} entries but the manifest ${this.blobName(desc.digest)} has ${layers.length} layers`
          )
        )
      for (let i = 0; i < Math.min(ids.length, layers.length); i++)
        if (diffIds[i] !== undefined && ids[i] !== diffIds[i])
          this.add(
            finding(
              'config-diff-id-mismatch',
              cwhere,
              `\`rootfs.diff_ids[${i}]\` is ${JSON.stringify(ids[i])} but layers[${i}] uncompressed has ${diffIds[i]}`
            )
          )
    }
    if (Array.isArray(config.history)) {
      const nonEmpty = config.history.filter(h => !(isObject(h) && h.empty_layer === true)).length
      if (nonEmpty !== layers.length)
        this.add(
          finding(
            'config-history-layers',
            cwhere,
            `\`history\` has ${nonEmpty} entries without \`empty_layer: true\` but the manifest has ${layers.length} layers`
          )
        )
    }
  }

  /** Whether the blob can be read; reports why not otherwise. */
  private async present(desc: Descriptor, loc: string): Promise<boolean> {
    if (!isRegisteredAlgorithm(desc.digest)) {
      this.add(
        finding(
          'descriptor-digest-unregistered',
          loc,
          `the blob ${desc.digest} uses an algorithm Lading cannot verify (sha256 and sha512 are registered); it was not checked`
        )
      )
      return false
    }
    let has: boolean
    try {
      has = await this.reader.has(desc)
    } catch (err) {
      this.add(
        finding(
          'blob-unreadable',
          loc,
          `could not look for blob ${desc.digest} in ${this.reader.name}: ${messageOf(err)}`
        )
      )
      return false
    }
    if (has) return true
    const foreign =
      (Array.isArray(desc.urls) && desc.urls.length > 0) ||
      desc.mediaType.includes('.nondistributable.') ||
      desc.mediaType.includes('.foreign.')
    if (this.opts.notDownloaded?.has(desc.digest))
      this.add(
        finding(
          'blob-not-downloaded',
          loc,
          `blob ${desc.digest} (${desc.mediaType}) was not downloaded (it stays in its registry), so its content was not checked`
        )
      )
    else if (foreign)
      this.add(
        finding(
          'blob-missing',
          loc,
          `blob ${desc.digest} (${desc.mediaType}) is not in ${this.reader.name}; it is non-distributable or has \`urls\`, so it is fetched from elsewhere`
        )
      )
    else if (this.opts.requireAllBlobs)
      this.add(
        finding(
          'blob-missing-required',
          loc,
          `blob ${desc.digest} (${desc.mediaType}) is missing from ${this.reader.name}, and it must be pushed; rebuild or re-copy the image`
        )
      )
    else
      this.add(
        finding(
          'blob-missing',
          loc,
          `blob ${desc.digest} (${desc.mediaType}) is missing from ${this.reader.name}; only an external blob store can provide it`
        )
      )
    return false
  }

  private verify(
    desc: Descriptor,
    got: { size: number; digest?: string; readError?: string },
    loc: string
  ): void {
    if (got.readError !== undefined) {
      this.add(
        finding(
          'blob-unreadable',
          loc,
          `reading blob ${desc.digest} failed after ${got.size} bytes: ${got.readError}`
        )
      )
      return
    }
    if (got.size !== desc.size)
      this.add(
        finding(
          'blob-size-mismatch',
          loc,
          `blob ${desc.digest} has ${got.size} bytes but the descriptor says ${desc.size}`
        )
      )
    if (got.digest !== desc.digest)
      this.add(
        finding(
          'blob-digest-mismatch',
          loc,
          `blob ${desc.digest} has content with digest ${got.digest}`
        )
      )
  }

  /** Reads, verifies and parses a JSON blob; undefined when there is nothing to parse. */
  private async document(desc: Descriptor, loc: string, what: string): Promise<unknown> {
    if (!(await this.present(desc, loc))) return undefined
    let p = this.json.get(desc.digest)
    if (!p) {
      p = this.readJson(desc)
      this.json.set(desc.digest, p)
    }
    const blob = await p
    this.verify(desc, blob, loc)
    if (!blob.bytes) {
      if (blob.readError === undefined)
        this.add(
          finding(
            'json-too-large',
            loc,
            `the ${what} ${desc.digest} has ${blob.size} bytes, more than the ${MAX_JSON} Lading parses; it was not checked`
          )
        )
      return undefined
    }
    const where = `${this.blobName(desc.digest)} (${what})`
    const parsed = parseJSON(blob.bytes, where)
    if (!this.reportedContent.has(desc.digest)) this.add(...parsed.findings)
    this.reportedContent.add(desc.digest)
    return parsed.value
  }

  private async readJson(desc: Descriptor): Promise<JsonBlob> {
    const algorithm = desc.digest.split(':', 1)[0]
    const chunks: Buffer[] = []
    let size = 0
    const h = createHash(algorithm)
    try {
      const s = await this.reader.open(desc)
      for await (const c of s as AsyncIterable<Buffer>) {
        size += c.length
        h.update(c)
        if (size <= MAX_JSON) chunks.push(c)
      }
    } catch (err) {
      // Read, if not to its end: reported here, not read again by the layout's blob sweep.
      this.hashed.add(desc.digest)
      return { size, readError: messageOf(err) }
    }
    this.hashed.add(desc.digest)
    if (size > MAX_JSON) return { size, digest: `${algorithm}:` + h.digest('hex') }
    return { size, digest: `${algorithm}:` + h.digest('hex'), bytes: Buffer.concat(chunks) }
  }

  private async scan(
    desc: Descriptor,
    layer: boolean,
    diffAlgorithm = 'sha256'
  ): Promise<ScanResult> {
    const compression = layer ? layerCompression(desc.mediaType) : undefined
    const key = layer ? scanKey(desc, diffAlgorithm) : `${desc.digest} opaque ${diffAlgorithm}`
    let p = this.scans.get(key)
    if (p) {
      // Counted once per walk: a layer listed twice, or read ahead, is not a second reuse.
      if (!this.counted.has(key)) this.scans.reused++
      this.counted.add(key)
    } else {
      this.counted.add(key)
      this.scans.reads++
      p = (async () => {
        let s: Readable
        try {
          s = await this.reader.open(desc)
        } catch (err) {
          return { size: 0, readError: messageOf(err), findings: [], unopened: true }
        }
        return scanBlob(s, {
          algorithm: desc.digest.split(':', 1)[0],
          diffAlgorithm,
          compression,
          checkTar: layer,
          location: layerLocation(desc.digest),
          digest: desc.digest
        })
      })()
      this.scans.set(key, p)
    }
    const r = await p
    // Read (if not to its end): the layout's sweep of unreferenced blobs need not read it again.
    if (!r.unopened) this.hashed.add(desc.digest)
    return r
  }

  private async opaque(desc: Descriptor, loc: string): Promise<void> {
    if (!(await this.present(desc, loc))) return
    this.verify(desc, await this.scan(desc, false), loc)
  }

  /** Returns the layer's diff_id when it could be computed. */
  private async layer(
    desc: Descriptor,
    loc: string,
    diffAlgorithm = 'sha256'
  ): Promise<string | undefined> {
    if (!(await this.present(desc, loc))) return undefined
    // Without layer checks (registry sources) a layer is never downloaded: presence is all we ask.
    if (this.opts.checkLayers === false) return undefined
    const isLayer = layerCompression(desc.mediaType) !== undefined
    const r = await this.scan(desc, isLayer, diffAlgorithm)
    this.verify(desc, r, loc)
    const key = `layer ${desc.digest}`
    if (!this.reportedContent.has(key)) this.add(...r.findings)
    this.reportedContent.add(key)
    return r.diffId
  }
}
