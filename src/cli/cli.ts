/** The CLI: argv → the same plan as the action → the same engine. */
import * as fs from 'node:fs'
import {
  INPUT_DEFAULTS,
  isInputName,
  parseFailOn,
  parseList,
  withDefaults,
  type GivenInputs,
  type InputName
} from '../app/inputs.js'
import { makePlan, reportPath, type Plan } from '../app/plan.js'
import { runPlan } from '../app/pipeline.js'
import { openAndValidate } from '../app/stages/open-sources.js'
import { cleanUpOnSignals, newRunContext } from '../app/context.js'
import { FileVerdicts, defaultVerdictsDir } from '../transports/verdicts.js'
import { invalidMessage, pushFailedMessage, type Outcome, type RunResult } from '../app/result.js'
import { LadingError, messageOf } from '../util/errors.js'
import { Temps } from '../util/temps.js'
import { MemoryRelief } from '../util/memory.js'
import { ScanCache } from '../oci/scan.js'
import { outputsOf, writeReport } from '../app/outputs.js'
import {
  makeReport,
  validateLayout,
  formatReport,
  type FailOn,
  type Report
} from '../validate/index.js'
import { parseSourceSpec, type SourceSpec } from '../transports/spec.js'
import { openSource } from '../app/sources.js'
import { inspectionOf, readDocuments, skipLayerScan, type InspectWant } from '../app/inspect.js'
import { formatInspection } from '../app/inspect-text.js'
import { parsePlatform } from '../oci/platform.js'
import type { Platform } from '../oci/types.js'
import { formatReferrers, referrersOf } from './referrers.js'
import { commandFree } from '../util/listing.js'

export const VERSION = '0.1.0'

/** A mistake in how the CLI was called (exit status 2), rather than in what it was asked to do. */
export class UsageError extends LadingError {}

const USAGE = `lading ${VERSION} — build, reassemble, validate and push OCI images, with no Docker daemon

Usage:
  lading build [options]              assemble an image into an OCI layout (and push it when --tags is given)
  lading validate SOURCE [options]    validate an image against the OCI Image Spec v1.1.1
  lading inspect SOURCE [options]     show an image: its index entries, config and layers (no layer is read)
  lading referrers HOST/REPO[:TAG|@DIGEST] [options]
                                      list the artifacts that refer to an image (referrers API or fallback tag)
  lading --help | --version

build options (the action's inputs but summary; list inputs take one item per flag, or several lines):
  --from SOURCE             scratch | oci:PATH[:REF] | oci-archive:PATH[:REF] | docker-archive:PATH |
                            docker-daemon:IMAGE |
                            [docker://]HOST/REPO[:TAG|@DIGEST]; repeat to merge into one index
  --platforms P             os/arch[/variant], repeatable or comma-separated
  --layers [--chown=UID[:GID]] [--chmod=MODE] SOURCE[:DEST]
                            a directory, a tarball or a file; repeatable, applied in order;
                            \${TARGETOS}, \${TARGETARCH}, \${TARGETVARIANT}, \${TARGETPLATFORM} per platform
  --entrypoint CMD          JSON array or shell words      --cmd CMD
  --env KEY=VALUE           repeatable                     --workdir DIR   --user USER
  --labels k=v              repeatable
  --annotations [LEVEL:]k=v LEVEL: manifest, index, manifest-descriptor, index-descriptor;
                            manifest[os/arch]: and manifest-descriptor[os/arch]: for one platform
  --exposed-ports 8080/tcp  repeatable                     --created RFC3339|UNIX-SECONDS
  --compression gzip|zstd|none   --compression-level N
  --cache-from IMAGE        an image (registry reference or oci:PATH) whose layers a new layer may
                            reuse instead of compressing it again; repeatable
  --output DIR              layout directory (default ./oci-layout)
  --archive FILE            also write an oci-archive tar
  --archive-format oci|docker   oci (default) or a docker save tarball of one platform
  --load [true|false]       docker load the result (needs the docker CLI and a daemon)
  --ref-name NAME           ref name in index.json (default latest)
  --fail-on error|warning|never
  --tags HOST/REPO:TAG      repeatable; pushed to only with --push
  --push [true|false]       --push-by-digest [true|false]
  --username U  --password P (or LADING_USERNAME / LADING_PASSWORD)   --github-token T
  --insecure-registries HOST[:PORT]
  --attach PATH[:ARTIFACT_TYPE]  a file to attach to the image as an OCI 1.1 artifact; repeatable

validate options:
  --format text|json        (default text)
  --fail-on error|warning|never

inspect options (SOURCE as for validate; --username, --password, --insecure-registries as for build):
  --platform os/arch[/variant]   the image of an index to show (an index alone lists its entries)
  --format text|json        (default text)
  --raw                     print the top document (or the --platform image's manifest) as stored
  --config                  print the image's config as stored

referrers options (--username, --password, --insecure-registries as for build):
  --format text|json        (default text)

SOURCE: oci:PATH[:REF] or a layout directory, oci-archive:PATH[:REF], docker-archive:PATH[:REPO:TAG],
        [docker://]HOST/REPO[:TAG|@DIGEST]

Exit status: 0 success, 1 failure (including validation), 2 usage error (unknown option or invalid input value).
`

const BOOLEAN_FLAGS = new Set(['push', 'push-by-digest', 'load'])
const VALIDATE_OPTIONS = new Set(['fail-on', 'username', 'password', 'insecure-registries'])
const INSPECT_OPTIONS = new Set(['username', 'password', 'insecure-registries'])
/** Options of validate and inspect that are not action inputs: with a value, or switches. */
const COMMAND_OPTIONS = new Set(['format', 'platform'])
const SWITCHES = new Set(['raw', 'config'])
/**
 * Inputs of the action that mean nothing in a shell: a usage error says what the CLI does instead,
 * rather than the option being taken and ignored.
 */
const ACTION_ONLY: Partial<Record<string, string>> = {
  summary:
    "is the action's job summary (GITHUB_STEP_SUMMARY), which the CLI does not write: " +
    'build prints its outputs and findings, and writes the report beside the layout (OUTPUT-report.json); ' +
    'validate prints its report (--format json for all of it)'
}
/** Inputs that are lists: the only options that may be repeated. */
const LIST_INPUTS = new Set<string>([
  'from',
  'platforms',
  'layers',
  'env',
  'labels',
  'annotations',
  'exposed-ports',
  'tags',
  'insecure-registries',
  'cache-from',
  'attach'
])

export function parseArgs(args: string[]): {
  inputs: GivenInputs
  positional: string[]
  extra: Record<string, string>
} {
  const inputs: Partial<Record<InputName, string[]>> = {}
  const extra: Record<string, string> = {}
  const positional: string[] = []
  for (let i = 0; i < args.length; i++) {
    const a = args[i]
    if (!a.startsWith('--')) {
      positional.push(a)
      continue
    }
    let name = a.slice(2)
    let value: string | undefined
    const eq = name.indexOf('=')
    if (eq >= 0) {
      value = name.slice(eq + 1)
      name = name.slice(0, eq)
    }
    const actionOnly = ACTION_ONLY[name]
    if (actionOnly !== undefined) throw new UsageError(`--${name} ${actionOnly}`)
    const isCommandOption = COMMAND_OPTIONS.has(name) || SWITCHES.has(name)
    if (!isInputName(name) && !isCommandOption)
      throw new UsageError(`unknown option --${name}; see lading --help`)
    if (SWITCHES.has(name)) {
      if (value !== undefined) throw new UsageError(`option --${name} takes no value`)
      value = 'true'
    } else if (value === undefined) {
      if (BOOLEAN_FLAGS.has(name) && (i + 1 >= args.length || args[i + 1].startsWith('--')))
        value = 'true'
      else if (i + 1 < args.length) value = args[++i]
      else throw new UsageError(`option --${name} needs a value`)
    }
    if (isCommandOption || !isInputName(name)) {
      if (extra[name] !== undefined)
        throw new UsageError(`option --${name} is given twice; it takes one value`)
      extra[name] = value
      continue
    }
    if (inputs[name] && !LIST_INPUTS.has(name))
      throw new UsageError(`option --${name} is given twice; it takes one value`)
    ;(inputs[name] ??= []).push(value)
  }
  const given: GivenInputs = {}
  for (const name of Object.keys(inputs) as InputName[]) given[name] = inputs[name]?.join('\n')
  return { inputs: given, positional, extra }
}

type Out = {
  out: (s: string) => void
  /** Bytes for stdout as they are, never re-encoded (--raw, --config). */
  bytes: (b: Uint8Array) => void
  err: (s: string) => void
}

export async function main(
  argv: string[],
  given: Out = defaultIO,
  env: NodeJS.ProcessEnv = process.env
): Promise<number> {
  // What goes to stderr is log text, and may quote the input: see commandFree.
  const io: Out = { ...given, err: s => given.err(commandFree(s)) }
  const [command, ...rest] = argv
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    io.out(USAGE)
    return command ? 0 : 2
  }
  if (command === '--version') {
    io.out(VERSION + '\n')
    return 0
  }
  try {
    if (rest.includes('--help') || rest.includes('-h')) {
      io.out(USAGE)
      return 0
    }
    if (command === 'build') return await build(rest, io, env)
    if (command === 'validate') return await validate(rest, io)
    if (command === 'inspect') return await inspect(rest, io, env)
    if (command === 'referrers') return await referrers(rest, io, env)
    io.err(`lading: unknown command "${command}"; see lading --help\n`)
    return 2
  } catch (err) {
    if (err instanceof LadingError) {
      io.err(`lading: ${err.message}\n`)
      return err instanceof UsageError ? 2 : 1
    }
    io.err(
      `lading: internal error (please report it): ${err instanceof Error ? err.stack : String(err)}\n`
    )
    return 1
  }
}

async function build(args: string[], io: Out, env: NodeJS.ProcessEnv): Promise<number> {
  const { inputs, positional, extra } = parseArgs(args)
  const strayOption = Object.keys(extra)[0]
  if (strayOption !== undefined)
    throw new UsageError(`build does not take --${strayOption}; see lading --help`)
  if (positional.length)
    throw new UsageError(`unexpected argument "${positional[0]}"; see lading --help`)
  inputs.username ??= env.LADING_USERNAME ?? ''
  inputs.password ??= env.LADING_PASSWORD ?? ''
  let plan: Plan
  try {
    plan = makePlan(withDefaults(inputs), { ...env, RUNNER_TEMP: env.RUNNER_TEMP })
  } catch (err) {
    throw err instanceof LadingError && !(err instanceof UsageError)
      ? new UsageError(err.message)
      : err
  }
  const file = reportPath(plan.output)
  const ctx = newRunContext(
    { info: m => io.err(m + '\n'), warning: m => io.err(`warning: ${m}\n`) },
    undefined,
    { verdicts: new FileVerdicts(defaultVerdictsDir(env)) }
  )
  const release = cleanUpOnSignals(ctx)
  let outcome: Outcome
  try {
    outcome = await runPlan(plan, ctx)
  } finally {
    release()
  }
  await writeReport(file, outcome.report)
  if (outcome.report.findings.length) io.err(formatReport(outcome.report) + '\n')
  switch (outcome.status) {
    case 'ok':
      io.out(outputLines(outcome.result, file))
      return 0
    case 'invalid':
      io.out(`valid: false\nreport: ${file}\n`)
      throw new LadingError(invalidMessage(outcome.what, outcome.report))
    case 'push-failed':
      io.out(outputLines(outcome.result, file))
      throw new LadingError(pushFailedMessage(outcome.result, outcome.message))
  }
}

function outputLines(r: RunResult, file: string): string {
  const lines = Object.entries(outputsOf(r))
    .filter(([, v]) => v !== '' && v !== '[]')
    .map(([k, v]) => `${k}: ${v}`)
  return [...lines, `valid: ${r.report.valid}`, `report: ${file}`].join('\n') + '\n'
}

async function validate(args: string[], io: Out): Promise<number> {
  const { inputs, positional, extra } = parseArgs(args)
  if (positional.length !== 1)
    throw new UsageError('validate needs exactly one SOURCE, e.g. lading validate oci:./layout')
  const stray = [...Object.keys(inputs), ...Object.keys(extra)].filter(
    k => !VALIDATE_OPTIONS.has(k) && k !== 'format'
  )
  if (stray.length) throw new UsageError(`validate does not take --${stray[0]}; see lading --help`)
  const format = formatOf(extra)
  let failOn: FailOn
  try {
    failOn = parseFailOn(inputs['fail-on'] ?? INPUT_DEFAULTS['fail-on'], '--fail-on')
  } catch (err) {
    throw new UsageError(messageOf(err))
  }
  const { line, spec } = sourceOf(positional[0], 'validate')
  // Every layer is read and decompressed: the scans tell memory relief of the Buffers they leave.
  const relief = new MemoryRelief()
  const scans = new ScanCache(undefined, relief)
  let report: Report
  if (spec.kind === 'oci' && !fs.existsSync(spec.path))
    throw new LadingError(`validate: "${line}": the directory ${spec.path} does not exist`)
  if (spec.kind === 'oci' && !spec.ref) {
    report = makeReport((await validateLayout(spec.path, { scans })).findings, failOn)
  } else if (spec.kind === 'scratch') {
    throw new LadingError('validate: scratch is an empty base, there is nothing to validate')
  } else {
    // Layers too, wherever the image lives: validating is what was asked for.
    const { source, findings } = await openAndValidate(
      spec,
      line,
      {
        username: inputs.username,
        password: inputs.password,
        insecureRegistries: parseList(inputs['insecure-registries'] ?? '', { commas: true })
      },
      { scans, relief },
      { checkLayers: true }
    )
    for (const w of source?.warnings ?? []) io.err(`warning: ${w}\n`)
    await source?.close?.()
    report = makeReport(findings, failOn)
  }
  io.out(format === 'json' ? JSON.stringify(report, null, 2) + '\n' : formatReport(report) + '\n')
  return report.valid || failOn === 'never' ? 0 : 1
}

function formatOf(extra: Record<string, string>): 'text' | 'json' {
  const format = extra.format ?? 'text'
  if (format !== 'text' && format !== 'json')
    throw new UsageError(`--format: "${format}" is not text or json`)
  return format
}

/** SOURCE as validate and inspect take it: a transport line, or a layout directory as such. */
function sourceOf(arg: string, command: string): { line: string; spec: SourceSpec } {
  let line = arg
  if (!/^[a-z-]+:/.test(line) && fs.existsSync(line)) {
    if (!fs.statSync(line).isDirectory())
      throw new LadingError(
        `${command}: "${line}" is a file; name its format: oci-archive:${line} or docker-archive:${line}`
      )
    line = `oci:${line}`
  }
  return { line, spec: parseSourceSpec(line) }
}

async function inspect(args: string[], io: Out, env: NodeJS.ProcessEnv): Promise<number> {
  const { inputs, positional, extra } = parseArgs(args)
  if (positional.length !== 1)
    throw new UsageError('inspect needs exactly one SOURCE, e.g. lading inspect oci:./layout')
  const stray = Object.keys(inputs).filter(k => !INSPECT_OPTIONS.has(k))
  if (stray.length) throw new UsageError(`inspect does not take --${stray[0]}; see lading --help`)
  const format = formatOf(extra)
  if (extra.raw && extra.config) throw new UsageError('--raw and --config: choose one')
  const want: InspectWant = extra.raw ? 'raw' : extra.config ? 'config' : 'facts'
  if (want !== 'facts' && extra.format !== undefined)
    throw new UsageError(`--${want} prints the document as stored; it takes no --format`)
  let platform: Platform | undefined
  try {
    platform = extra.platform === undefined ? undefined : parsePlatform(extra.platform)
  } catch (err) {
    throw err instanceof LadingError ? new UsageError(`--platform: ${err.message}`) : err
  }
  const { line, spec } = sourceOf(positional[0], 'inspect')
  if (spec.kind === 'scratch')
    throw new LadingError('inspect: scratch is an empty base, there is nothing to inspect')
  const auth = {
    username: inputs.username ?? env.LADING_USERNAME ?? '',
    password: inputs.password ?? env.LADING_PASSWORD ?? '',
    insecureRegistries: parseList(inputs['insecure-registries'] ?? '', { commas: true })
  }
  const temps = new Temps()
  const source = await openSource(spec, line, auth, temps, skipLayerScan)
  for (const w of source.warnings ?? []) io.err(`warning: ${w}\n`)
  try {
    const docs = await readDocuments(source, { platform, want })
    // With --platform, the document shown is the image selected (or the one image, checked).
    if (want === 'raw') io.bytes((platform && docs.manifest ? docs.manifest : docs.top).bytes)
    else if (want === 'config') io.bytes(docs.config!.bytes)
    else {
      const facts = inspectionOf(docs)
      io.out(format === 'json' ? JSON.stringify(facts, null, 2) + '\n' : formatInspection(facts))
    }
    return 0
  } finally {
    await source.close?.()
    temps.removeAll()
  }
}

async function referrers(args: string[], io: Out, env: NodeJS.ProcessEnv): Promise<number> {
  const { inputs, positional, extra } = parseArgs(args)
  if (positional.length !== 1)
    throw new UsageError('referrers needs exactly one image, e.g. lading referrers ghcr.io/o/r:1')
  const stray = [...Object.keys(inputs), ...Object.keys(extra)].filter(
    k => !INSPECT_OPTIONS.has(k) && k !== 'format'
  )
  if (stray.length) throw new UsageError(`referrers does not take --${stray[0]}; see lading --help`)
  const format = formatOf(extra)
  const listing = await referrersOf(positional[0].replace(/^docker:\/\//, ''), {
    username: inputs.username ?? env.LADING_USERNAME ?? '',
    password: inputs.password ?? env.LADING_PASSWORD ?? '',
    insecureRegistries: parseList(inputs['insecure-registries'] ?? '', { commas: true })
  })
  const report = makeReport(listing.findings)
  if (format === 'json') io.out(JSON.stringify(listing, null, 2) + '\n')
  else {
    io.out(formatReferrers(listing))
    if (listing.findings.length) io.err(formatReport(report) + '\n')
  }
  return report.valid ? 0 : 1
}

const defaultIO: Out = {
  out: s => process.stdout.write(s),
  bytes: b => process.stdout.write(b),
  err: s => process.stderr.write(s)
}
