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
    imageid: imageIdOf(r),
    'platform-digests': JSON.stringify(platformDigestsOf(r)),
    platforms: r.platforms.join(','),
    layout: r.layout ?? '',
    archive: r.archive ?? '',
    'image-refs': JSON.stringify(r.imageRefs),
    attached: JSON.stringify(r.attached),
    metadata: JSON.stringify(metadataOf(r))
  }
}

export { humanSize } from '../util/progress.js'

/**
 * The image ID as docker/build-push-action gives it: buildx writes its `--iidfile` with the config
 * digest when the result has one config, else with the image's digest (an index's, when
 * multi-platform).
 */
export function imageIdOf(r: RunResult): string {
  return r.configDigest ?? r.digest
}

/** Each platform's manifest digest, by platform: what signing each image needs. */
export function platformDigestsOf(r: RunResult): Record<string, string> {
  return Object.fromEntries(r.images.map(i => [i.platform, i.digest]))
}
