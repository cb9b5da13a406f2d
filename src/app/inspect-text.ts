/** The text form of an `Inspection`: one fact a line, long values cut, never wrapped. Pure. */
import type { ImageFacts, IndexEntry, Inspection, LayerFacts } from './inspect.js'
import { humanSize } from '../util/progress.js'
import { escapedLine } from '../util/listing.js'

/** The longest value shown on a line; the JSON output has every value whole. */
export const VALUE_WIDTH = 100
/** Ends a value that was cut. */
export const CUT_MARKER = '…'
/** Hex digits of a digest shown in the layers table (the JSON output has them whole). */
const SHORT_DIGEST = 12
const LABEL_WIDTH = 14
const PLATFORM_WIDTH = 32
const MEDIA_TYPE_WIDTH = 64

/**
 * A value as one safe line: control characters (a newline in a label, a terminal escape in a
 * hostile image) are written as escapes, and what is longer than `width` is cut.
 */
export function shownLine(value: string, width = VALUE_WIDTH): string {
  const escaped = escapedLine(value)
  const chars = Array.from(escaped)
  return chars.length <= width ? escaped : chars.slice(0, width - 1).join('') + CUT_MARKER
}

function shortDigest(digest: string): string {
  const i = digest.indexOf(':')
  const hex = digest.slice(i + 1)
  return hex.length <= SHORT_DIGEST ? digest : digest.slice(0, i + 1 + SHORT_DIGEST) + CUT_MARKER
}

/** `label  value`, or the label with one line per value (several values), or `-` (none). */
function field(label: string, values: string | string[] | null): string[] {
  const list = values === null ? [] : Array.isArray(values) ? values : [values]
  const pad = ' '.repeat(LABEL_WIDTH)
  if (list.length === 0) return [`${label.padEnd(LABEL_WIDTH)}-`]
  return list.map((v, i) => `${i === 0 ? label.padEnd(LABEL_WIDTH) : pad}${shownLine(v)}`)
}

const pairs = (m: Record<string, string>): string[] =>
  Object.entries(m).map(([k, v]) => `${k}=${v}`)
const argv = (a: string[] | null): string | null => (a === null ? null : JSON.stringify(a))

/** Rows of cells as columns, each as wide as its widest cell (the last one not padded). */
function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map(r => r[c].length)))
  return rows.map(
    r => '  ' + r.map((cell, c) => (c < r.length - 1 ? cell.padEnd(widths[c]) : cell)).join('  ')
  )
}

function entriesBlock(entries: IndexEntry[]): string[] {
  const rows = [['PLATFORM', 'KIND', 'SIZE', 'DIGEST']]
  for (const e of entries) {
    const digest = e.attests ? `${e.digest} (of ${shortDigest(e.attests)})` : e.digest
    rows.push([
      shownLine(e.platform ?? '-', PLATFORM_WIDTH),
      e.kind,
      humanSize(e.size),
      shownLine(digest, 2 * VALUE_WIDTH)
    ])
  }
  const lines = [`manifests (${entries.length}):`, ...table(rows)]
  const first = entries.find(e => e.kind === 'image' && e.platform)
  if (first)
    lines.push(`inspect one image with --platform, e.g. --platform ${shownLine(first.platform!)}`)
  return lines
}

function layersBlock(layers: LayerFacts[], kind: ImageFacts['kind']): string[] {
  const total = layers.reduce((n, l) => n + l.size, 0)
  const head =
    kind === 'image'
      ? ['#', 'DIGEST', 'SIZE', 'MEDIA TYPE', 'DIFF_ID']
      : ['#', 'DIGEST', 'SIZE', 'MEDIA TYPE']
  const rows = [head]
  for (const [i, l] of layers.entries()) {
    const row = [
      String(i),
      shortDigest(l.digest),
      humanSize(l.size),
      shownLine(l.mediaType, MEDIA_TYPE_WIDTH)
    ]
    if (kind === 'image') row.push(l.diffId ? shortDigest(l.diffId) : '-')
    rows.push(row)
  }
  const what = kind === 'image' ? 'layers' : 'blobs'
  const title = `${what} (${layers.length}, ${humanSize(total)} compressed):`
  return layers.length ? [title, ...table(rows)] : [`${what.padEnd(LABEL_WIDTH)}-`]
}

function imageBlock(img: ImageFacts): string[] {
  const config = [img.config.digest, `${img.config.mediaType}, ${humanSize(img.config.size)}`]
  if (img.kind === 'artifact')
    return [
      ...field('artifact type', img.artifactType),
      ...field('config', config),
      ...field('annotations', pairs(img.annotations)),
      ...layersBlock(img.layers, img.kind)
    ]
  return [
    ...field('platform', img.platform),
    ...field('created', img.created),
    ...(img.author !== null ? field('author', img.author) : []),
    ...field('user', img.user),
    ...field('entrypoint', argv(img.entrypoint)),
    ...field('cmd', argv(img.cmd)),
    ...field('workdir', img.workingDir),
    ...field('env', img.env),
    ...field('exposed ports', img.exposedPorts.join(', ') || null),
    ...(img.volumes.length ? field('volumes', img.volumes.join(', ')) : []),
    ...(img.stopSignal !== null ? field('stop signal', img.stopSignal) : []),
    ...field('labels', pairs(img.labels)),
    ...field('annotations', pairs(img.annotations)),
    ...field('config', config),
    ...layersBlock(img.layers, img.kind)
  ]
}

function header(digest: string, mediaType: string, size: number, kind: string): string[] {
  return [
    ...field('digest', digest),
    ...field('media type', mediaType),
    ...field('size', humanSize(size)),
    ...field('kind', kind)
  ]
}

export function formatInspection(i: Inspection): string {
  const lines = [...field('source', i.source), ...header(i.digest, i.mediaType, i.size, i.kind)]
  if (i.manifests) {
    if (i.artifactType !== null) lines.push(...field('artifact type', i.artifactType))
    if (Object.keys(i.annotations).length) lines.push(...field('annotations', pairs(i.annotations)))
    if (i.image) {
      const img = i.image
      lines.push('', `image ${shownLine(img.platform ?? '')}`.trimEnd() + ':')
      lines.push(...header(img.digest, img.mediaType, img.size, img.kind), ...imageBlock(img))
    } else {
      lines.push(...entriesBlock(i.manifests))
    }
  } else if (i.image) {
    lines.push(...imageBlock(i.image))
  }
  return lines.join('\n') + '\n'
}
