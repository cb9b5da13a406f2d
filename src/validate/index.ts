/**
 * Validation of OCI images against the OCI Image Spec v1.1.1. Every rule has an id, a severity and
 * the URL of its spec section (see `rules` and docs/rules.md). Nothing here throws on bad input:
 * every problem becomes a finding.
 */
import type { BlobReader } from '../oci/blobs.js'
import type { Descriptor } from '../oci/types.js'
import { messageOf } from '../util/errors.js'
import { finding, type Finding } from './rules.js'
import { parseDocument } from './json.js'
import {
  checkConfig,
  checkDescriptor,
  checkIndex,
  checkLayoutFile,
  checkManifest
} from './document/index.js'
import { Walker } from './walker.js'
import type { ScanCache } from '../oci/scan.js'
import { walkLayout } from './layout.js'
import { makeReport } from './report.js'
import type { Report } from './report.js'

export type { Severity, Finding, Rule } from './rules.js'
export { finding, rules } from './rules.js'
export type { Report, FailOn } from './report.js'
export { makeReport, formatReport } from './report.js'
export { scanKey, ScanCache } from '../oci/scan.js'
export { HeaderCheck, tarScanner, layerChecks } from './layer/checks.js'
export { scanBlob, type ScanResult } from './layer/scan.js'
export { checkReferrersList } from './referrers.js'

export interface ValidateOptions {
  /** blobs missing from the layout are errors (Lading must push them) rather than warnings */
  requireAllBlobs?: boolean
  /** digests deliberately absent (registry-base layers never downloaded): info finding `blob-not-downloaded` */
  notDownloaded?: Set<string>
  /** read layers: digest, size, tar readability, paths, whiteouts, diff_ids (default true); false only checks they exist */
  checkLayers?: boolean
  /** scans shared by the validations of one run, so that no blob is read twice to check it */
  scans?: ScanCache
}

/** Validates an OCI image layout directory and every image its index.json references. */
export async function validateLayout(dir: string, opts: ValidateOptions = {}): Promise<Report> {
  return makeReport(await walkLayout(dir, opts))
}

/**
 * Validates the image graph below `root` whose blobs are read through `reader` (registry,
 * archives). `location` prefixes finding locations.
 */
export async function validateImage(
  reader: BlobReader,
  root: Descriptor,
  opts: ValidateOptions & { location?: string } = {}
): Promise<Finding[]> {
  const prefix = opts.location ?? reader.name
  const where = prefix ? `${prefix} ` : ''
  const walker = new Walker(reader, opts, d => `${where}${d.slice(0, 19)}…`)
  const rootLoc = prefix || 'root'
  const out: Finding[] = []
  if (!checkDescriptor(root, rootLoc, out, { platform: true })) return out
  try {
    await walker.entry(root, rootLoc)
  } catch (err) {
    out.push(finding('blob-unreadable', rootLoc, `the image could not be read: ${messageOf(err)}`))
  }
  return [...out, ...walker.findings]
}

const DIGEST = /sha(256|512):[0-9a-f]{64,128}/

/**
 * Drops findings that repeat an earlier one: the same rule about the same blob (the first full
 * digest in the message), or, when the message names no digest, the same rule, location and
 * message. A base layer's problem is found once when a source is validated and again in the
 * output; the first (source) finding is kept. Locations are not searched for a digest: a source
 * reference such as `reg/x@sha256:…` prefixes every location of that source, so distinct
 * findings would collapse.
 */
export function dedupeFindings(findings: Finding[]): Finding[] {
  const seen = new Set<string>()
  const out: Finding[] = []
  for (const f of findings) {
    const digest = DIGEST.exec(f.message)?.[0]
    const key = digest ? `${f.rule}\0${digest}` : `${f.rule}\0${f.location}\0${f.message}`
    if (seen.has(key)) continue
    seen.add(key)
    out.push(f)
  }
  return out
}

export type DocumentKind =
  'manifest' | 'index' | 'config' | 'descriptor' | 'layout' | 'content-descriptor'

/**
 * Document-level rules only (no blob access). `doc` is parsed JSON, or the raw text/bytes of a
 * document (then parse errors and I-JSON problems are findings too).
 */
export function validateDocument(
  kind: DocumentKind,
  doc: unknown,
  location: string = kind
): Finding[] {
  const out: Finding[] = []
  let value = doc
  if (typeof doc === 'string' || Buffer.isBuffer(doc)) {
    const p = parseDocument(doc, location)
    out.push(...p.findings)
    if (p.value === undefined) return out
    value = p.value
  }
  try {
    switch (kind) {
      case 'manifest':
        checkManifest(value, location, out)
        break
      case 'index':
        checkIndex(value, location, out)
        break
      case 'config':
        checkConfig(value, location, out)
        break
      case 'layout':
        checkLayoutFile(value, location, out)
        break
      default:
        checkDescriptor(value, location, out)
    }
  } catch (err) {
    out.push(finding('json-invalid', location, `could not be checked: ${messageOf(err)}`))
  }
  return out
}
