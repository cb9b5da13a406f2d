/**
 * Validates an image graph (index → manifests → config + layers) read through a BlobReader: the
 * graph's one walk (walkGraph) visits each document once, and every problem, including I/O
 * failures and nonsense input, becomes a finding. Nothing here throws for bad input.
 */
import type { BlobReader } from '../oci/blobs.js'
import type { Descriptor, Platform } from '../oci/types.js'
import { walkGraph, MAX_INDEX_DEPTH, type WalkPosition } from '../oci/graph.js'
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
import { parseDocument } from './json.js'
import { at, checkConfig, checkDescriptor, checkIndex, checkManifest } from './document/index.js'
import { isRegisteredAlgorithm } from '../oci/digest.js'
import { BlobReads, type BlobReadOptions } from './blob-reads.js'
import { MAX_DOCUMENT_BYTES } from '../oci/limits.js'

export interface WalkOptions extends BlobReadOptions {
  /** read layers: digest, size, tar readability, paths, whiteouts, diff_ids (default true); false only checks they exist */
  checkLayers?: boolean
}

/** Layers of a manifest read at once beyond the one whose findings are being taken. */
const LAYERS_AHEAD = 2

/** How to name a blob in a location: `PREFIX sha256:0123456789ab…` or, in a layout, `blobs/sha256/0123…`. */
export type BlobNamer = (digest: string) => string

/** One place in the graph: a descriptor, where it was found, and the platform its index gives it. */
interface GraphNode {
  desc: Descriptor
  loc: string
  platform?: Platform
}

/** The algorithm of `rootfs.diff_ids[i]` when it is sha512 (the other registered one), else sha256. */
function diffAlgorithmOf(config: Record<string, unknown> | undefined, i: number): string {
  const rootfs = config?.rootfs
  const id = isObject(rootfs) && Array.isArray(rootfs.diff_ids) ? rootfs.diff_ids[i] : undefined
  return typeof id === 'string' && id.startsWith('sha512:') ? 'sha512' : 'sha256'
}

function descriptorPlatform(d: Record<string, unknown>): Platform | undefined {
  const p = d.platform
  return isObject(p) && typeof p.os === 'string' && typeof p.architecture === 'string'
    ? (p as unknown as Platform)
    : undefined
}

export class Walker {
  readonly findings: Finding[] = []
  private readonly reads: BlobReads
  private readonly reportedContent = new Set<string>()
  private readonly seenFindings = new Set<string>()
  /** The walk's memo, shared by every root walked (a layout's index.json entries). */
  private readonly walked = new Set<string>()

  constructor(
    reader: BlobReader,
    private readonly opts: WalkOptions,
    private readonly blobName: BlobNamer
  ) {
    this.reads = new BlobReads(reader, opts, (...f) => this.add(...f))
  }

  /** Digests of blobs read to their end, so a layout check does not read them again. */
  get hashed(): Set<string> {
    return this.reads.hashed
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

  /** Walks what an index entry (or a root descriptor) points at; its own rules are its index's. */
  async entry(d: unknown, loc: string): Promise<void> {
    if (!isObject(d) || !checkDescriptor(d, loc, [])) return
    const root: GraphNode = {
      desc: d as unknown as Descriptor,
      loc,
      platform: descriptorPlatform(d)
    }
    await walkGraph(
      root,
      {
        descriptor: n => n.desc,
        key: n => this.keyOf(n),
        cycle: n =>
          this.add(finding('index-cycle', n.loc, `the index ${n.desc.digest} is nested in itself`)),
        tooDeep: n =>
          this.add(
            finding(
              'index-depth',
              n.loc,
              `the index ${n.desc.digest} is nested more than ${MAX_INDEX_DEPTH} indexes deep; Lading does not walk deeper, so nothing below it was checked`
            )
          ),
        children: (n, at) => this.visit(n, at)
      },
      { seen: this.walked }
    )
  }

  /**
   * Manifests are walked once per platform their indexes give them (each is checked against its
   * config); indexes once; other blobs at each place, as only their bytes are checked (once).
   */
  private keyOf(n: GraphNode): string {
    if (isIndexMediaType(n.desc.mediaType)) return n.desc.digest
    if (isManifestMediaType(n.desc.mediaType))
      return `${n.desc.digest} ${n.platform ? JSON.stringify(n.platform) : ''}`
    return `${n.desc.digest} ${n.loc}`
  }

  private async visit(n: GraphNode, _at: WalkPosition): Promise<GraphNode[]> {
    try {
      if (isIndexMediaType(n.desc.mediaType)) return await this.index(n)
      if (isManifestMediaType(n.desc.mediaType)) await this.manifest(n)
      // An unknown media type in an index must not be an error: only its bytes are verified.
      else await this.opaque(n.desc, n.loc)
    } catch (err) {
      // A bug or an unforeseen input must still end in a report, never a crash.
      this.add(finding('blob-unreadable', n.loc, `could not be checked: ${messageOf(err)}`))
    }
    return []
  }

  private async index(n: GraphNode): Promise<GraphNode[]> {
    const doc = await this.document(n.desc, n.loc, 'index')
    if (doc === undefined) return []
    const where = `${this.blobName(n.desc.digest)} (index)`
    const out: Finding[] = []
    checkIndex(doc, where, out)
    this.add(...out)
    this.checkOwnType(doc, n.desc, where)
    if (!isObject(doc) || !Array.isArray(doc.manifests)) return []
    const children: GraphNode[] = []
    doc.manifests.forEach((m: unknown, i: number) => {
      const loc = at(where, `manifests[${i}]`)
      if (isObject(m) && checkDescriptor(m, loc, []))
        children.push({ desc: m as unknown as Descriptor, loc, platform: descriptorPlatform(m) })
    })
    return children
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

  private async manifest(n: GraphNode): Promise<void> {
    const { desc, loc, platform } = n
    const doc = await this.document(desc, loc, 'manifest')
    if (doc === undefined) return
    const where = `${this.blobName(desc.digest)} (manifest)`
    const out: Finding[] = []
    checkManifest(doc, where, out)
    this.add(...out)
    this.checkOwnType(doc, desc, where)
    if (!isObject(doc)) return
    const cd = isObject(doc.config) && checkDescriptor(doc.config, at(where, 'config'), [])
    const configDesc = cd ? (doc.config as unknown as Descriptor) : undefined
    const config = configDesc ? await this.config(configDesc, at(where, 'config')) : undefined
    if (config && platform) this.checkPlatform(config, platform, loc)
    const layers = Array.isArray(doc.layers) ? doc.layers : []
    const diffIds = await this.layers(layers, where, config)
    if (!config || !configDesc) return
    const cwhere = `${this.blobName(configDesc.digest)} (config)`
    this.checkRootfs(config, cwhere, desc, layers.length, diffIds)
    this.checkHistory(config, cwhere, layers.length)
  }

  /** A manifest's config: parsed and checked when it is an image config, else only verified. */
  private async config(
    desc: Descriptor,
    loc: string
  ): Promise<Record<string, unknown> | undefined> {
    if (desc.mediaType !== MediaType.ImageConfig && desc.mediaType !== MediaType.DockerConfig) {
      await this.opaque(desc, loc)
      return undefined
    }
    const doc = await this.document(desc, loc, 'config')
    if (doc === undefined) return undefined
    const out: Finding[] = []
    checkConfig(doc, `${this.blobName(desc.digest)} (config)`, out)
    this.add(...out)
    return isObject(doc) ? doc : undefined
  }

  private checkPlatform(config: Record<string, unknown>, platform: Platform, loc: string): void {
    if (typeof config.os !== 'string' || typeof config.architecture !== 'string') return
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

  /**
   * Each layer's diff_id where it could be computed. Layers are read a few at a time (their
   * decompression runs on other cores), while their findings are still taken in order, so the
   * report does not depend on which finished first.
   */
  private async layers(
    layers: unknown[],
    where: string,
    config: Record<string, unknown> | undefined
  ): Promise<Array<string | undefined>> {
    const readAhead = (i: number): void => {
      const l = layers[i]
      if (this.opts.checkLayers === false || !isObject(l) || !checkDescriptor(l, '', [])) return
      const d = l as unknown as Descriptor
      // Layers left in their registry are not there to read.
      if (!isRegisteredAlgorithm(d.digest) || this.opts.notDownloaded?.has(d.digest)) return
      const isLayer = layerCompression(d.mediaType) !== undefined
      this.reads.scan(d, isLayer, diffAlgorithmOf(config, i)).catch(() => {})
    }
    for (let i = 0; i < Math.min(LAYERS_AHEAD, layers.length); i++) readAhead(i)
    const diffIds: Array<string | undefined> = []
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
    return diffIds
  }

  private checkRootfs(
    config: Record<string, unknown>,
    cwhere: string,
    manifest: Descriptor,
    layerCount: number,
    diffIds: Array<string | undefined>
  ): void {
    const rootfs = config.rootfs
    if (!isObject(rootfs) || !Array.isArray(rootfs.diff_ids)) return
    const ids = rootfs.diff_ids
    if (ids.length !== layerCount)
      this.add(
        finding(
          'config-diff-ids',
          cwhere,
          `\`rootfs.diff_ids\` has ${ids.length} entries but the manifest ${this.blobName(manifest.digest)} has ${layerCount} layers`
        )
      )
    for (let i = 0; i < Math.min(ids.length, layerCount); i++)
      if (diffIds[i] !== undefined && ids[i] !== diffIds[i])
        this.add(
          finding(
            'config-diff-id-mismatch',
            cwhere,
            `\`rootfs.diff_ids[${i}]\` is ${JSON.stringify(ids[i])} but layers[${i}] uncompressed has ${diffIds[i]}`
          )
        )
  }

  private checkHistory(config: Record<string, unknown>, cwhere: string, layerCount: number): void {
    if (!Array.isArray(config.history)) return
    const nonEmpty = config.history.filter(h => !(isObject(h) && h.empty_layer === true)).length
    if (nonEmpty !== layerCount)
      this.add(
        finding(
          'config-history-layers',
          cwhere,
          `\`history\` has ${nonEmpty} entries without \`empty_layer: true\` but the manifest has ${layerCount} layers`
        )
      )
  }

  /** Reads, verifies and parses a JSON blob; undefined when there is nothing to parse. */
  private async document(desc: Descriptor, loc: string, what: string): Promise<unknown> {
    if (!(await this.reads.present(desc, loc))) return undefined
    const blob = await this.reads.readJson(desc)
    if (blob.tooLarge) {
      this.add(this.tooLarge(desc, loc, what))
      return undefined
    }
    this.reads.verify(desc, blob, loc)
    if (!blob.bytes) return undefined
    const parsed = parseDocument(blob.bytes, `${this.blobName(desc.digest)} (${what})`)
    if (!this.reportedContent.has(desc.digest)) this.add(...parsed.findings)
    this.reportedContent.add(desc.digest)
    return parsed.value
  }

  /** A document Lading does not read: an error, since nothing it holds or leads to is checked. */
  private tooLarge(desc: Descriptor, loc: string, what: string): Finding {
    const read =
      desc.size > MAX_DOCUMENT_BYTES
        ? `its descriptor declares ${desc.size} bytes, so it was not read`
        : `its descriptor declares ${desc.size} bytes but it holds more; reading stopped at byte ${MAX_DOCUMENT_BYTES + 1}`
    return finding(
      'json-too-large',
      loc,
      `the ${what} ${desc.digest} is larger than the ${MAX_DOCUMENT_BYTES} bytes (4 MiB) Lading reads of a document: ${read}. Its digest could not be verified, and nothing it holds or references was checked`
    )
  }

  private async opaque(desc: Descriptor, loc: string): Promise<void> {
    if (!(await this.reads.present(desc, loc))) return
    this.reads.verify(desc, await this.reads.scan(desc, false), loc)
  }

  /** Returns the layer's diff_id when it could be computed. */
  private async layer(
    desc: Descriptor,
    loc: string,
    diffAlgorithm = 'sha256'
  ): Promise<string | undefined> {
    if (!(await this.reads.present(desc, loc))) return undefined
    // Without layer checks (registry sources) a layer is never downloaded: presence is all we ask.
    if (this.opts.checkLayers === false) return undefined
    const isLayer = layerCompression(desc.mediaType) !== undefined
    const r = await this.reads.scan(desc, isLayer, diffAlgorithm)
    this.reads.verify(desc, r, loc)
    const key = `layer ${desc.digest}`
    if (!this.reportedContent.has(key)) this.add(...r.findings)
    this.reportedContent.add(key)
    return r.diffId
  }
}
