import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import type { Report } from '../validate/index.js'
import type { RunResult } from './result.js'

export async function writeReport(file: string, report: Report): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true })
  await fs.writeFile(file, JSON.stringify(report, null, 2) + '\n')
}

/** buildx's metadata keys, so workflows written for docker/build-push-action read Lading's the same way. */
export function metadataOf(r: RunResult): Record<string, unknown> {
  const m: Record<string, unknown> = {
    'containerimage.digest': r.digest,
    'containerimage.descriptor': { mediaType: r.mediaType, digest: r.digest, size: r.size }
  }
  if (r.configDigest) m['containerimage.config.digest'] = r.configDigest
  if (r.imageName) m['image.name'] = r.imageName
  return m
}

/** The action's outputs of a run that produced an image (`valid` and `report` aside), by name. */
export function outputsOf(r: RunResult): Record<string, string> {
  return {
    digest: r.digest,
    'media-type': r.mediaType,
    'config-digest': r.configDigest ?? '',
    platforms: r.platforms.join(','),
    layout: r.layout ?? '',
    archive: r.archive ?? '',
    'image-refs': JSON.stringify(r.imageRefs),
    attached: JSON.stringify(r.attached),
    metadata: JSON.stringify(metadataOf(r))
  }
}

export function humanSize(n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${v.toFixed(1)} ${units[i]}`
}
