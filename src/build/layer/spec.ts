/**
 * The `layers` input: one line per layer, `[--chown=UID[:GID]] [--chmod=MODE] SOURCE[:DEST]`,
 * where SOURCE and DEST may name the target platform as a Dockerfile does (`${TARGETARCH}`), and
 * SOURCE may start with a Windows drive (`C:\dist:/app`).
 */
import { existsSync } from 'node:fs'
import { LadingError } from '../../util/errors.js'
import { driveLength } from '../../util/drive.js'
import type { Platform } from '../../oci/types.js'

export interface LayerInput {
  source: string
  dest?: string
  /** The raw line, quoted in messages. */
  spec: string
  /** `--chown`: the owner of every entry taken from SOURCE. */
  chown?: { uid: number; gid: number }
  /** `--chmod`: the permission bits of every entry taken from SOURCE (files and directories). */
  chmod?: number
  /** The platforms this expansion of a per-platform line is built for, named in messages. */
  platforms?: string[]
}

/** The extensions that make a file a tarball to use as a layer rather than a file to put in one. */
const TARBALL = /\.(tar|tar\.gz|tgz|tar\.zst|tar\.zstd|tzst|tar\.xz|txz|tar\.bz2|tbz2?)$/i

export function isTarballName(source: string): boolean {
  return TARBALL.test(source)
}

/** What the log calls a layer while it is built. */
export function layerName(input: LayerInput): string {
  const where = input.platforms?.length ? ` (${input.platforms.join(', ')})` : ''
  return `layer ${input.spec}${where}`
}

/** Docker's names for the target platform, as a Dockerfile's `ARG TARGETARCH` sees them. */
export const PLATFORM_VARIABLES = ['TARGETPLATFORM', 'TARGETOS', 'TARGETARCH', 'TARGETVARIANT']

const VARIABLE = /\$\{([^}]*)\}/g

/** Whether the line names the target platform, so that each platform may get its own layer. */
export function isPerPlatform(input: LayerInput): boolean {
  return [input.source, input.dest ?? ''].some(s => /\$\{/.test(s))
}

/** The values of the platform variables; arm64's implied v8 is no variant, as buildx has it. */
export function platformVariables(p: Platform): Record<string, string> {
  const variant = p.architecture === 'arm64' && p.variant === 'v8' ? '' : (p.variant ?? '')
  return {
    TARGETPLATFORM: [p.os, p.architecture, variant].filter(Boolean).join('/'),
    TARGETOS: p.os,
    TARGETARCH: p.architecture,
    TARGETVARIANT: variant
  }
}

/** The line for one platform: its variables replaced in SOURCE and DEST. */
export function expandForPlatform(input: LayerInput, p: Platform): LayerInput {
  const values = platformVariables(p)
  const expand = (s: string) => s.replace(VARIABLE, (_, name: string) => values[name])
  const out: LayerInput = { ...input, source: expand(input.source) }
  if (input.dest !== undefined) out.dest = expand(input.dest)
  return out
}

function refuseUnknownVariables(spec: string, part: string): void {
  for (const m of part.matchAll(VARIABLE))
    if (!PLATFORM_VARIABLES.includes(m[1]))
      throw new LadingError(
        `layers: "${spec}": \${${m[1]}} is not a variable Lading knows; use ${PLATFORM_VARIABLES.map(v => `\${${v}}`).join(', ')}`
      )
  if (part.replace(VARIABLE, '').includes('${'))
    throw new LadingError(`layers: "${spec}": a "\${" is not closed by "}"`)
}

/** `--chown=UID[:GID]`: numbers only, since a layer has no /etc/passwd to look a name up in. */
function parseChown(spec: string, value: string): { uid: number; gid: number } {
  const m = /^(\d{1,10})(?::(\d{1,10}))?$/.exec(value)
  const uid = Number(m?.[1])
  const gid = Number(m?.[2] ?? m?.[1])
  if (!m || uid > 0x7fffffff || gid > 0x7fffffff)
    throw new LadingError(
      `layers: "${spec}": --chown=${value} is not UID[:GID] in numbers (e.g. --chown=65532:65532); ` +
        'user and group names cannot be looked up when no base image is run'
    )
  return { uid, gid }
}

/** `--chmod=MODE`: octal, as Dockerfile COPY takes it. */
function parseChmod(spec: string, value: string): number {
  if (!/^[0-7]{3,4}$/.test(value))
    throw new LadingError(
      `layers: "${spec}": --chmod=${value} is not an octal mode of 3 or 4 digits (e.g. --chmod=0755)`
    )
  return parseInt(value, 8)
}

/** Splits the `--chown`/`--chmod` flags off the front of a line. */
function parseFlags(spec: string): { flags: Pick<LayerInput, 'chown' | 'chmod'>; rest: string } {
  const flags: Pick<LayerInput, 'chown' | 'chmod'> = {}
  let rest = spec
  for (let m; (m = /^--([a-z-]*)(?:=(\S*))?\s+/.exec(rest)); rest = rest.slice(m[0].length)) {
    const [, name, value = ''] = m
    if (name === 'chown' && flags.chown === undefined) flags.chown = parseChown(spec, value)
    else if (name === 'chmod' && flags.chmod === undefined) flags.chmod = parseChmod(spec, value)
    else
      throw new LadingError(
        flags[name as 'chown' | 'chmod'] !== undefined
          ? `layers: "${spec}": --${name} is given twice`
          : `layers: "${spec}": --${name} is not a flag of a layer; use --chown=UID[:GID] or --chmod=MODE before SOURCE`
      )
  }
  if (/^--(chown|chmod)(=\S*)?$/.test(rest))
    throw new LadingError(`layers: "${spec}": ${rest} must be followed by SOURCE[:DEST]`)
  return { flags, rest }
}

/** Parses one line of the `layers` input. */
export function parseLayerSpec(line: string): LayerInput {
  const spec = line.trim()
  if (!spec) throw new LadingError('layers: an empty line is not a layer; write SOURCE[:DEST]')
  const { flags, rest } = parseFlags(spec)
  const located = splitSourceDest(spec, rest)
  refuseUnknownVariables(spec, located.source)
  refuseUnknownVariables(spec, located.dest ?? '')
  return { ...located, spec, ...flags }
}

function splitSourceDest(spec: string, text: string): Pick<LayerInput, 'source' | 'dest'> {
  // A name that holds ':' itself, such as "notes:v2.txt", is a SOURCE with no DEST.
  if (existsSync(text)) return { source: text }
  // A drive's colon never separates DEST, whatever the OS parsing the line: `C:/x` is a SOURCE
  // (it need not exist here, as when it names the platform).
  const from = driveLength(text)
  // The last ':' before a '/' separates DEST, so sources may hold ':' themselves.
  let cut = text.lastIndexOf(':/')
  if (cut < from) cut = text.lastIndexOf(':')
  if (cut < from) return { source: text }
  const source = text.slice(0, cut)
  const dest = text.slice(cut + 1)
  if (!source)
    throw new LadingError(`layers: "${spec}": SOURCE is empty; write SOURCE[:DEST], e.g. dist:/app`)
  if (!dest.startsWith('/'))
    throw new LadingError(
      `layers: "${spec}": DEST "${dest}" must be an absolute path in the image, e.g. ${source}:/${dest || 'app'}`
    )
  return { source, dest }
}
