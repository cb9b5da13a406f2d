import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { LadingError } from '../util/errors.js'
import { parseList, parseBool, parseFailOn, type RawInputs } from './inputs.js'
import { parseCommand } from './words.js'
import { parseAnnotations, type Annotations } from './annotations.js'
import { formatPlatform, parsePlatform, platformsEqual } from '../oci/platform.js'
import { isLayoutRefName, parseReference, type Reference } from '../oci/reference.js'
import { formatRFC3339, parseRFC3339 } from '../oci/time.js'
import type { FailOn } from '../validate/report.js'
import type { Platform } from '../oci/types.js'
import type { Compression } from '../oci/mediatypes.js'
import type { ConfigEdits } from '../build/assemble.js'
import {
  isTarballName,
  parseLayerSpec,
  parseCompression,
  type LayerInput
} from '../build/layer/index.js'
import { compressionLevel as compressionLevel_ } from '../codec/compress.js'
import { parseSourceSpec, type SourceSpec } from '../transports/spec.js'
import { parseCacheFrom, type CacheFrom, type CacheImage } from './cache-from.js'
import { parseAttach, type AttachFile } from './attach-input.js'

export type { FailOn } from '../validate/report.js'

export type { ConfigEdits } from '../build/assemble.js'

/** A typed, validated description of one run: what both the action and the CLI produce. */
export interface Plan {
  from: Array<{ line: string; spec: SourceSpec }>
  platforms: Platform[]
  layers: LayerInput[]
  config: ConfigEdits
  annotations: Annotations
  /** GitHub context annotations; the user's annotations override them. */
  defaultAnnotations: Record<string, string>
  created: Date
  compression: Compression
  compressionLevel?: number
  output: string
  archive?: string
  /** `oci` (an oci-archive, named for Docker 25+) or `docker` (a `docker save` tarball). */
  archiveFormat: ArchiveFormat
  /** `docker load` the result (the archive, or a temporary one). */
  load: boolean
  refName: string
  failOn: FailOn
  tags: Reference[]
  push: boolean
  pushByDigest: boolean
  /** Images whose layers a new layer may be taken from instead of compressing it again. */
  cacheFrom: CacheImage[]
  /** `cache-from` lines naming a cache Lading cannot read (cache-from.ts): warned of, not read. */
  cacheFromSkipped: CacheFrom['skipped']
  /** files to attach to the image as OCI 1.1 artifacts (referrers) */
  attach: AttachFile[]
  /** Whether the action writes a job summary. */
  summary: boolean
  auth: {
    username?: string
    password?: string
    githubToken?: string
    insecureRegistries: string[]
    /** The registries the username/password inputs belong to: the tags' (base registries get none). */
    credentialsRegistries?: string[]
  }
}

export type ArchiveFormat = 'oci' | 'docker'

/** Where the JSON report of a run goes: beside the layout, never inside it. */
export function reportPath(output: string): string {
  return path.join(path.dirname(output), `${path.basename(output)}-report.json`)
}

/** Turns raw inputs (defaults applied) into a plan, or throws a LadingError naming the input. */
export function makePlan(
  raw: RawInputs,
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd()
): Plan {
  const from = parseFrom(raw, cwd)
  const platforms = parsePlatforms(raw)
  const layers = parseList(raw.layers).map(l => parseLayerSpec(l))
  const config = parseConfigEdits(raw)
  const annotations = parseAnnotations(parseList(raw.annotations))
  const created = parseCreated(raw.created, env, cwd)
  const compression = parseCompression(raw.compression)
  const compressionLevel = raw['compression-level'].trim()
    ? compressionLevel_(compression, raw['compression-level'])
    : undefined
  const outputs = parseOutputs(raw, env, cwd)
  const refName = raw['ref-name'].trim() || 'latest'
  if (!isLayoutRefName(refName))
    throw new LadingError(
      `ref-name: "${refName}" does not match the ref.name grammar of the OCI image layout`
    )
  const failOn = parseFailOn(raw['fail-on'])
  const targets = parseTargets(raw)
  if (from[0].spec.kind === 'scratch' && layers.length === 0)
    throw new LadingError(
      'layers: is empty and from is scratch, which would make an image with no filesystem ' +
        '(the OCI manifest needs at least one layer); give SOURCE[:DEST] lines, or a base image in from'
    )
  return {
    from,
    platforms,
    layers,
    config,
    annotations,
    defaultAnnotations: defaultAnnotationsOf(created, env),
    created,
    compression,
    compressionLevel,
    ...outputs,
    refName,
    failOn,
    ...targets,
    ...cacheFromOf(raw['cache-from'], cwd),
    attach: parseAttach(raw.attach, cwd),
    summary: parseBool('summary', raw.summary),
    auth: {
      username: raw.username.trim() || undefined,
      password: raw.password || undefined,
      githubToken: raw['github-token'].trim() || undefined,
      insecureRegistries: parseList(raw['insecure-registries'], { commas: true }),
      credentialsRegistries: [...new Set(targets.tags.map(t => t.registry))]
    }
  }
}

/**
 * `image.tar` or `./build/layout` are not registry names; a local path is what was meant, and
 * the line is told to say which transport reads it.
 */
function notLocalPath(key: string, line: string, cwd: string): void {
  if (/^(oci|oci-archive|docker-archive|docker-daemon|docker):/.test(line)) return
  // A name ending as a tarball does, unless what follows its last ':' is an image's tag.
  const tarName = isTarballName(line) && !/:[^/]*$/.test(line)
  if (!/^\.{0,2}\//.test(line) && !tarName) return
  const local = path.resolve(cwd, line)
  const st = fs.statSync(local, { throwIfNoEntry: false })
  if (st?.isDirectory())
    throw new LadingError(
      `${key}: "${line}" looks like a local directory; write oci:${line} for an OCI layout`
    )
  if (st || tarName)
    throw new LadingError(
      `${key}: "${line}" looks like a local file; write oci-archive:${line} or docker-archive:${line}`
    )
  throw new LadingError(
    `${key}: "${line}" looks like a local path, where there is nothing yet; write oci:${line} for an OCI layout, oci-archive:${line} or docker-archive:${line} for a tarball`
  )
}

/** The `from` lines; scratch when none. A local path is told to say which transport it is. */
function parseFrom(raw: RawInputs, cwd: string): Plan['from'] {
  const from = parseList(raw.from).map(line => {
    notLocalPath('from', line, cwd)
    return { line, spec: parseSourceSpec(line) }
  })
  if (from.length === 0) from.push({ line: 'scratch', spec: { kind: 'scratch' } })
  if (from.length > 1 && from.some(f => f.spec.kind === 'scratch'))
    throw new LadingError('from: "scratch" cannot be merged with other sources; give it alone')
  return from
}

function parsePlatforms(raw: RawInputs): Platform[] {
  const platforms = parseList(raw.platforms, { commas: true }).map(p => {
    try {
      return parsePlatform(p)
    } catch (err) {
      throw new LadingError(`platforms: ${(err as Error).message}`)
    }
  })
  platforms.forEach((p, i) => {
    const twin = platforms.findIndex(q => platformsEqual(p, q))
    if (twin < i)
      throw new LadingError(
        `platforms: ${formatPlatform(p)} is given twice (as ${formatPlatform(platforms[twin])} too)`
      )
  })
  return platforms
}

/** entrypoint, cmd, env, workdir, user, labels and exposed-ports, as config edits. */
function parseConfigEdits(raw: RawInputs): ConfigEdits {
  const config: ConfigEdits = { env: [], labels: {}, exposedPorts: [] }
  if (raw.entrypoint.trim()) config.entrypoint = parseCommand(raw.entrypoint, 'entrypoint')
  if (raw.cmd.trim()) config.cmd = parseCommand(raw.cmd, 'cmd')
  for (const line of parseList(raw.env)) {
    const eq = line.indexOf('=')
    if (eq <= 0) throw new LadingError(`env: "${line}" is not KEY=VALUE`)
    if (/[\s]/.test(line.slice(0, eq)))
      throw new LadingError(`env: "${line}": the name "${line.slice(0, eq)}" has white space`)
    config.env.push([line.slice(0, eq), line.slice(eq + 1)])
  }
  if (raw.workdir.trim()) {
    const w = raw.workdir.trim()
    if (!w.startsWith('/')) throw new LadingError(`workdir: "${w}" must be an absolute path`)
    config.workdir = w
  }
  if (raw.user.trim()) config.user = raw.user.trim()
  for (const line of parseList(raw.labels)) {
    const [k, v] = keyValue(line, 'labels')
    config.labels[k] = v
  }
  for (const p of parseList(raw['exposed-ports'], { commas: true })) {
    const m = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(p)
    if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535)
      throw new LadingError(`exposed-ports: "${p}" is not PORT or PORT/tcp|udp|sctp (1-65535)`)
    config.exposedPorts.push(`${Number(m[1])}/${(m[2] ?? 'tcp').toLowerCase()}`)
  }
  return config
}

/** Where the run writes: the layout, the archive and its format, and whether Docker loads it. */
function parseOutputs(
  raw: RawInputs,
  env: NodeJS.ProcessEnv,
  cwd: string
): Pick<Plan, 'output' | 'archive' | 'archiveFormat' | 'load'> {
  const output = path.resolve(
    cwd,
    raw.output.trim() ||
      (env.RUNNER_TEMP ? path.join(env.RUNNER_TEMP, 'lading', 'layout') : 'oci-layout')
  )
  const archive = raw.archive.trim() ? path.resolve(cwd, raw.archive.trim()) : undefined
  if (archive && (archive === output || archive.startsWith(output + path.sep)))
    throw new LadingError(
      `archive: "${raw.archive}" must not be inside the output layout ${output}`
    )
  if (archive && archive === reportPath(output))
    throw new LadingError(
      `archive: "${raw.archive}" is where the validation report goes; choose another path`
    )
  const archiveFormat = raw['archive-format'].trim().toLowerCase() || 'oci'
  if (archiveFormat !== 'oci' && archiveFormat !== 'docker')
    throw new LadingError(`archive-format: "${raw['archive-format']}" is not oci or docker`)
  return { output, archive, archiveFormat, load: parseBool('load', raw.load) }
}

/** The tags, whether to push to them, and by digest; credentials come in pairs. */
function parseTargets(raw: RawInputs): Pick<Plan, 'tags' | 'push' | 'pushByDigest'> {
  const pushByDigest = parseBool('push-by-digest', raw['push-by-digest'])
  const tags = parseList(raw.tags, { commas: true }).map(t => {
    let ref: Reference
    try {
      ref = parseReference(t)
    } catch (err) {
      throw new LadingError(`tags: ${(err as Error).message}`)
    }
    if (ref.digest) throw new LadingError(`tags: "${t}" has a digest; give HOST/REPO:TAG`)
    if (!ref.tag && !pushByDigest) ref.tag = 'latest'
    return ref
  })
  if (raw.username.trim() && !raw.password)
    throw new LadingError('username: is given without password; give both, or neither')
  if (raw.password && !raw.username.trim())
    throw new LadingError('password: is given without username; give both, or neither')
  // As docker/build-push-action: tags alone build for them; pushing is asked for.
  const push = parseBool('push', raw.push)
  if (pushByDigest && !push)
    throw new LadingError(
      'push-by-digest: is true but push is not; give push: true to push by digest'
    )
  if (push && tags.length === 0)
    throw new LadingError(
      'push: is true but tags is empty; give the HOST/REPO:TAG references to push to'
    )
  return { tags, push, pushByDigest }
}

/** The annotations Lading derives from the run (created) and the GitHub context; the user's win. */
function defaultAnnotationsOf(created: Date, env: NodeJS.ProcessEnv): Record<string, string> {
  const annotations: Record<string, string> = {
    'org.opencontainers.image.created': formatRFC3339(created)
  }
  if (env.GITHUB_REPOSITORY)
    annotations['org.opencontainers.image.source'] =
      `${env.GITHUB_SERVER_URL || 'https://github.com'}/${env.GITHUB_REPOSITORY}`
  if (env.GITHUB_SHA) annotations['org.opencontainers.image.revision'] = env.GITHUB_SHA
  return annotations
}

function keyValue(line: string, input: string): [string, string] {
  const eq = line.indexOf('=')
  if (eq <= 0) throw new LadingError(`${input}: "${line}" is not key=value`)
  return [line.slice(0, eq).trim(), line.slice(eq + 1)]
}

/** RFC 3339 or Unix seconds; default SOURCE_DATE_EPOCH, then HEAD's commit time, then the epoch. */
export function parseCreated(value: string, env: NodeJS.ProcessEnv, cwd: string): Date {
  const v = value.trim()
  if (v) return parseTime(v, 'created')
  if (env.SOURCE_DATE_EPOCH?.trim())
    return parseTime(env.SOURCE_DATE_EPOCH.trim(), 'SOURCE_DATE_EPOCH')
  try {
    const out = execFileSync('git', ['log', '-1', '--format=%ct'], {
      cwd: env.GITHUB_WORKSPACE || cwd,
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 10000
    })
      .toString()
      .trim()
    if (/^\d+$/.test(out)) return new Date(Number(out) * 1000)
  } catch {
    // Not a git repository, or git absent: fall through to the epoch, which is reproducible too.
  }
  return new Date(0)
}

function parseTime(v: string, input: string): Date {
  if (/^\d+$/.test(v)) return new Date(Number(v) * 1000)
  const d = parseRFC3339(v, { space: true })
  if (d) return d
  throw new LadingError(
    `${input}: "${v}" is neither RFC 3339 (2024-01-02T03:04:05Z) nor Unix seconds`
  )
}

function cacheFromOf(value: string, cwd: string): Pick<Plan, 'cacheFrom' | 'cacheFromSkipped'> {
  const { images, skipped } = parseCacheFrom(value, line => notLocalPath('cache-from', line, cwd))
  return { cacheFrom: images, cacheFromSkipped: skipped }
}
