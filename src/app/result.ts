/** What a run gives back: the image it made, or why it made none. */
import type { Descriptor } from '../oci/types.js'
import type { Report } from '../validate/index.js'

export interface PlatformResult {
  platform: string
  digest: string
  configDigest: string
  layers: Descriptor[]
  source: string
}

export interface PushSummary {
  uploaded: number
  mounted: number
  skipped: number
  bytesUploaded: number
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
  /**
   * Blobs the image references that the layout does not hold: layers of a registry base, or
   * taken from a registry cache image, never downloaded.
   */
  notDownloaded: string[]
  /** The layers taken from `cache-from` images instead of being built, each with its image's line. */
  fromCache?: Array<{ digest: string; image: string }>
  pushed?: PushSummary
  /** Digests of the artifacts attached to the image (the `attach` input), in its order. */
  attached: string[]
  /** Why each attestation of the sources was left out (the image it describes was rebuilt). */
  dropped: string[]
  /** The tags given without `push: true`: built and validated for them, not pushed. */
  notPushedTo?: string[]
}

/**
 * How a run ended. `invalid`: a source or the assembled image failed validation at fail-on (or a
 * source could not be read): nothing was written or pushed. `push-failed`: the image was built,
 * validated and written, then the push failed.
 */
export type Outcome =
  | { status: 'ok'; result: RunResult; report: Report }
  | { status: 'invalid'; what: string; report: Report }
  | { status: 'push-failed'; result: RunResult; report: Report; message: string }

/** The one-paragraph message of an invalid outcome, with its first errors. */
export function invalidMessage(what: string, report: Report): string {
  const first = report.findings
    .filter(f => f.severity === 'error')
    .slice(0, 3)
    .map(f => `\n  ${f.rule}: ${f.location}: ${f.message}`)
    .join('')
  return (
    `${what} failed validation: ${report.errors} error(s), ${report.warnings} warning(s); ` +
    `nothing was written or pushed (see the report; fail-on decides what fails the step)` +
    first
  )
}

/** The message of a push-failed outcome. */
export function pushFailedMessage(result: RunResult, message: string): string {
  return `the image ${result.digest} was written to ${result.layout} but not pushed: ${message}`
}

/** What a run with tags but without `push: true` says of them. */
export function notPushedMessage(tags: string[]): string {
  return (
    `the image was built and validated but not pushed to ${tags.join(', ')}: ` +
    'push is false (the default); set push: true to push'
  )
}
