/**
 * One benchmark, Lading side by side with its peers, every tool run as a whole process exactly as
 * a user runs it (Lading as `node dist/cli/index.js ...`), timed wall-clock with peak RSS from
 * GNU time, repetitions interleaved (Lading, peer, Lading, peer ...), medians reported.
 *
 *   npm run bench        (= npm run package && node --experimental-strip-types bench/run.ts)
 *
 * Sections (LADING_BENCH_ONLY=build,tiny,...,levels picks some, comma-separated; default all):
 *   build     mixed dataset, one layer: lading build vs umoci insert (and tar | gzip, for scale)
 *   tiny      100,000 tiny files: lading build vs umoci insert, time per file
 *   repro     the Lading builds of the mixed dataset give one manifest digest
 *   push      a 4-layer layout to an empty registry and to one that has it:
 *             lading build --from oci:... --push --tags ... vs oci-image-tool validate && skopeo copy;
 *             each run one job (a RUNNER_TEMP of its own): the first push reads the layout cold,
 *             the second finds the verdicts the first kept
 *   pushbuilt the same image built by an earlier `lading build` step (its own RUNNER_TEMP per
 *             run, so the verdicts that step kept are found), then pushed by a second step, to an
 *             empty registry and to one that has it, vs oci-image-tool validate && skopeo copy
 *   pushumoci the same 4 groups made into a layout by umoci insert (read cold: no verdicts),
 *             pushed, vs oci-image-tool validate, each layer's gzip -dc | sha256sum compared
 *             with its diff_id, then skopeo copy (the peer pipeline with Lading's guarantee)
 *   rebuild   a two-layer image (the mixed tree, a small app directory) pushed once; the app
 *             changed; rebuilt and pushed with --cache-from the previous push vs the same
 *             command without it (cold); bytes of the unchanged layer uploaded (target 0)
 *             Bytes uploaded per push are read from Lading's log lines `uploaded DIGEST (N bytes)`.
 *   validate  lading validate vs gzip -dc BLOB | sha256sum over the same layer blobs
 *   rss       peak RSS of every Lading run, and of one build of a ~1 GiB layer, ≤ 150 MiB
 *   levels    gzip levels 1, 2, 4, 6 and zstd 3 on one core: layer size and speed (for the defaults)
 *
 * Knobs: LADING_BENCH_RUNS (5), LADING_BENCH_MB (200), LADING_BENCH_FILES (10000),
 * LADING_BENCH_TINY (100000). The 1 GiB dataset scales with LADING_BENCH_MB/FILES (1024 MB in
 * 12,000 files at the defaults). Datasets are cached under $TMPDIR/lading-bench-data/; all else
 * lives in a temporary work directory removed at the end, on failure and on SIGINT/SIGTERM.
 * Results: a table on stdout, bench/results/latest.md and bench/results/latest.json.
 * Lading is run from a copy of dist/cli/ taken at the start (its sha256 is in the results).
 * Exit status: 0 all targets met, 1 a target failed or the run broke, 2 a tool is missing.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import * as fs from 'node:fs'
import * as net from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import * as zlib from 'node:zlib'
import type { DatasetInfo } from './dataset.ts'

const here = path.dirname(fileURLToPath(import.meta.url))
const repo = path.resolve(here, '..')
const distCli = path.join(repo, 'dist', 'cli')
/**
 * The CLI that is run: a copy of dist/cli/ taken at the start into the work directory, so that a
 * rebuild of dist/ while the bench runs (npm run package in another shell) cannot mix two builds.
 */
let cli = path.join(distCli, 'index.js')

function intEnv(name: string, dflt: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return dflt
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1) {
    console.error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`)
    process.exit(2)
  }
  return n
}

const RUNS = intEnv('LADING_BENCH_RUNS', 5)
const MB = intEnv('LADING_BENCH_MB', 200)
const FILES = intEnv('LADING_BENCH_FILES', 10000)
const TINY = intEnv('LADING_BENCH_TINY', 100000)
const BIG_MB = Math.round((1024 * MB) / 200)
const BIG_FILES = Math.round((12000 * FILES) / 10000)
const RSS_LIMIT_MIB = 150
const CHILD_TIMEOUT_MS = 30 * 60 * 1000
const REGISTRY_START_MS = 15_000
const ALL_SECTIONS = [
  'build',
  'tiny',
  'repro',
  'push',
  'pushbuilt',
  'pushumoci',
  'rebuild',
  'validate',
  'rss',
  'levels'
] as const
type Section = (typeof ALL_SECTIONS)[number]
const ONLY = parseOnly(process.env.LADING_BENCH_ONLY)
const on = (s: Section): boolean => ONLY.has(s)

function parseOnly(raw: string | undefined): Set<Section> {
  if (!raw) return new Set(ALL_SECTIONS)
  const picked = raw
    .split(',')
    .map(s => s.trim())
    .filter(Boolean)
  const bad = picked.filter(s => !(ALL_SECTIONS as readonly string[]).includes(s))
  if (bad.length) {
    console.error(`LADING_BENCH_ONLY: unknown section(s) ${bad.join(', ')}; known: ${ALL_SECTIONS}`)
    process.exit(2)
  }
  return new Set(picked as Section[])
}

// ---------------------------------------------------------------------------------------------
// Clean-up: every child we start and every directory we make is tracked, and released on any exit.

const live = new Set<ChildProcess>()
const tempDirs = new Set<string>()
let work = ''

/** Kills a child started with `detached: true` together with everything it started. */
function killTree(c: ChildProcess): void {
  if (c.exitCode !== null || c.signalCode !== null || c.pid === undefined) return
  try {
    process.kill(-c.pid, 'SIGKILL')
  } catch {
    c.kill('SIGKILL')
  }
}

function cleanup(): void {
  for (const c of live) killTree(c)
  live.clear()
  for (const d of tempDirs) {
    try {
      fs.rmSync(d, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 })
    } catch (err) {
      console.error(`bench: could not remove ${d}: ${err instanceof Error ? err.message : err}`)
    }
  }
  tempDirs.clear()
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    console.error(`\nbench: ${sig}, stopping; children killed, work dir removed`)
    cleanup()
    process.exit(130)
  })
}
process.on('exit', cleanup)

class BenchError extends Error {}

// ---------------------------------------------------------------------------------------------
// Running processes.

interface Measured {
  ms: number
  rssKiB: number
  stdout: string
  stderr: string
}

function describe(cmd: string, args: string[]): string {
  return [cmd, ...args].map(a => (/^[\w./:=@,+-]+$/.test(a) ? a : JSON.stringify(a))).join(' ')
}

function tail(s: string, max = 8000): string {
  return s.length > max ? `…${s.slice(-max)}` : s
}

/**
 * Runs one process to its end under `/usr/bin/time -f '%e %M'`: wall time by hrtime around it,
 * peak RSS (KiB) from GNU time. A non-zero exit, a signal or the timeout is a BenchError carrying
 * the child's stderr.
 */
function measure(
  label: string,
  cmd: string,
  args: string[],
  opts: { cwd?: string; timeoutMs?: number; env?: Record<string, string> } = {}
): Promise<Measured> {
  const timeFile = path.join(work, `time-${process.pid}-${Math.random().toString(36).slice(2)}`)
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint()
    // Its own process group, so a timeout or a signal to the bench kills the whole pipeline.
    const child = spawn('/usr/bin/time', ['-f', '%e %M', '-o', timeFile, cmd, ...args], {
      cwd: opts.cwd ?? work,
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true
    })
    live.add(child)
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', d => (stdout = tail(stdout + d, 1 << 20)))
    child.stderr.setEncoding('utf8').on('data', d => (stderr = tail(stderr + d, 1 << 20)))
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      killTree(child)
    }, opts.timeoutMs ?? CHILD_TIMEOUT_MS).unref()
    child.on('error', err => {
      clearTimeout(timer)
      live.delete(child)
      reject(new BenchError(`${label}: could not start ${cmd}: ${err.message}`))
    })
    child.on('close', (code, signal) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6
      clearTimeout(timer)
      live.delete(child)
      let timeOut = ''
      try {
        timeOut = fs.readFileSync(timeFile, 'utf8')
        fs.rmSync(timeFile, { force: true })
      } catch {
        // reported below
      }
      if (code !== 0 || signal) {
        const limit = (opts.timeoutMs ?? CHILD_TIMEOUT_MS) / 1000
        const why = timedOut
          ? `timed out after ${limit} s`
          : signal
            ? `killed by ${signal}`
            : `exit status ${code}`
        reject(
          new BenchError(
            `${label} failed (${why}): ${describe(cmd, args)}\n--- stderr ---\n${tail(stderr)}` +
              (stdout.trim() ? `\n--- stdout ---\n${tail(stdout, 2000)}` : '')
          )
        )
        return
      }
      const last = timeOut.trim().split('\n').pop() ?? ''
      const m = /^([\d.]+) (\d+)$/.exec(last)
      if (!m) {
        reject(new BenchError(`${label}: unreadable GNU time output ${JSON.stringify(timeOut)}`))
        return
      }
      resolve({ ms, rssKiB: Number(m[2]), stdout, stderr })
    })
  })
}

/** A quick command whose output we need (versions, tool checks); never throws. */
function quick(cmd: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 })
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() }
}

let ownTemps = 0

/**
 * A Lading run; `runnerTemp` is its RUNNER_TEMP, where it keeps and finds blob verdicts. Without
 * one it gets a new empty one of its own: it finds no verdict an earlier run left (in the system's
 * temp dir, as outside a workflow), as a layout from elsewhere is read in full.
 */
const lading = (label: string, args: string[], runnerTemp?: string): Promise<Measured> => {
  let temp = runnerTemp
  if (!temp) {
    temp = path.join(work, 'runner-temps', String(ownTemps++))
    fs.mkdirSync(temp, { recursive: true })
  }
  return measure(`lading ${label}`, process.execPath, [cli, ...args], {
    env: { RUNNER_TEMP: temp }
  })
}
const sh = (label: string, script: string, ...args: string[]): Promise<Measured> =>
  measure(label, 'sh', ['-c', script, 'sh', ...args])

// ---------------------------------------------------------------------------------------------
// Datasets, cached across runs.

interface Dataset extends DatasetInfo {
  name: string
  dir: string
}

const cacheRoot = path.join(os.tmpdir(), 'lading-bench-data')

/**
 * A dataset from bench/dataset.ts, generated once into $TMPDIR/lading-bench-data/NAME-v1/tree and
 * reused while NAME-v1/.done exists. Generated by dataset.ts's own command line in a child process,
 * so a SIGINT stops it at once and a half-made tree is removed.
 */
async function dataset(name: string, kind: 'mixed' | 'tiny', args: number[]): Promise<Dataset> {
  const root = path.join(cacheRoot, `${name}-v1`)
  const tree = path.join(root, 'tree')
  const done = path.join(root, '.done')
  if (fs.existsSync(done)) {
    const info = JSON.parse(fs.readFileSync(done, 'utf8')) as DatasetInfo
    return { name, dir: tree, ...info }
  }
  fs.rmSync(root, { recursive: true, force: true })
  const partial = `${root}.partial-${process.pid}`
  tempDirs.add(partial)
  fs.rmSync(partial, { recursive: true, force: true })
  fs.mkdirSync(partial, { recursive: true })
  process.stdout.write(`generating dataset ${name} (cached in ${root}) ... `)
  const gen = await measure(`generating dataset ${name}`, process.execPath, [
    '--experimental-strip-types',
    path.join(here, 'dataset.ts'),
    kind,
    path.join(partial, 'tree'),
    ...args.map(String)
  ])
  const info = JSON.parse(gen.stdout.trim().split('\n').pop() ?? '') as DatasetInfo
  fs.writeFileSync(path.join(partial, '.done'), JSON.stringify(info) + '\n')
  fs.renameSync(partial, root)
  tempDirs.delete(partial)
  console.log(`${(gen.ms / 1000).toFixed(1)} s`)
  return { name, dir: tree, ...info }
}

/** Reads every file of a tree once, untimed, so the first timed run does not pay for a cold cache. */
async function warm(dir: string): Promise<void> {
  await sh('warming the page cache', 'tar -cf - -C "$1" . | cat > /dev/null', dir)
}

// ---------------------------------------------------------------------------------------------
// OCI layouts.

interface Desc {
  mediaType: string
  digest: string
  size: number
  annotations?: Record<string, string>
}

function blobPath(layout: string, digest: string): string {
  const [alg, hex] = digest.split(':')
  return path.join(layout, 'blobs', alg, hex)
}

/** The manifest descriptor for a ref name in index.json (the only one when ref is omitted). */
function rootOf(layout: string, ref?: string): Desc {
  const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8')) as {
    manifests: Desc[]
  }
  const found = ref
    ? index.manifests.find(m => m.annotations?.['org.opencontainers.image.ref.name'] === ref)
    : index.manifests.length === 1
      ? index.manifests[0]
      : undefined
  if (!found) throw new BenchError(`${layout}: no manifest ${ref ?? '(single)'} in index.json`)
  return found
}

function manifestOf(layout: string, ref?: string): { layers: Desc[]; config: Desc } {
  return JSON.parse(fs.readFileSync(blobPath(layout, rootOf(layout, ref).digest), 'utf8'))
}

/** The size of the layout's largest layer (by index.json → manifest → layers). */
function layerSize(layout: string, ref?: string): number {
  const layers = manifestOf(layout, ref).layers
  if (!layers.length) throw new BenchError(`${layout}: the image has no layer`)
  return Math.max(...layers.map(l => l.size))
}

// ---------------------------------------------------------------------------------------------
// Registries: CNCF distribution on a free loopback port, one per tool and run.

interface Registry {
  host: string
  child: ChildProcess
  dir: string
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
}

async function startRegistry(name: string): Promise<Registry> {
  const dir = path.join(work, 'registries', name)
  fs.mkdirSync(dir, { recursive: true })
  const host = `127.0.0.1:${await freePort()}`
  const config = path.join(dir, 'config.yml')
  fs.writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n` +
      `    rootdirectory: ${dir}/data\n  delete:\n    enabled: true\nhttp:\n  addr: ${host}\n`
  )
  const child = spawn('/usr/bin/docker-registry', ['serve', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true
  })
  live.add(child)
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', d => (stderr = tail(stderr + d)))
  const deadline = Date.now() + REGISTRY_START_MS
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break
    try {
      const res = await fetch(`http://${host}/v2/`, { signal: AbortSignal.timeout(1000) })
      if (res.status === 200) return { host, child, dir }
    } catch {
      // not up yet
    }
    await new Promise(r => setTimeout(r, 100))
  }
  stopRegistry({ host, child, dir })
  throw new BenchError(
    `docker-registry on ${host} did not answer within ${REGISTRY_START_MS / 1000} s` +
      (child.exitCode !== null ? ` (exited with ${child.exitCode})` : '') +
      `\n--- stderr ---\n${stderr}`
  )
}

function stopRegistry(r: Registry): void {
  killTree(r.child)
  live.delete(r.child)
  fs.rmSync(r.dir, { recursive: true, force: true })
}

// ---------------------------------------------------------------------------------------------
// Results.

type Result = 'PASS' | 'FAIL' | 'info'

interface Row {
  section: Section
  metric: string
  lading: string
  peer: string
  ratio: string
  target: string
  result: Result
}

const rows: Row[] = []
const json: Record<string, unknown> = {}
const ladingRss: Partial<Record<Section | 'push-setup', number[]>> = {}
const peerRss: Partial<Record<Section, number[]>> = {}

function noteRss(section: Section | 'push-setup', m: Measured, peer = false): void {
  const into = peer ? peerRss : ladingRss
  ;(into[section as Section] ??= []).push(m.rssKiB)
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}
const secs = (ms: number): string => `${(ms / 1000).toFixed(2)} s`
const mbytes = (b: number): string => `${(b / 1e6).toFixed(1)} MB`
const mib = (kib: number): string => `${(kib / 1024).toFixed(1)} MiB`
const x = (r: number): string => `${r.toFixed(2)}×`

function row(
  section: Section,
  metric: string,
  lading: string,
  peer: string,
  ratio: number | null,
  target: string,
  ok: boolean | null
): void {
  rows.push({
    section,
    metric,
    lading,
    peer,
    ratio: ratio === null ? '—' : x(ratio),
    target,
    result: ok === null ? 'info' : ok ? 'PASS' : 'FAIL'
  })
}

function table(markdown: boolean): string {
  const head = ['section', 'metric', 'Lading', 'peer / reference', 'ratio', 'target', 'result']
  const body = rows.map(r => [r.section, r.metric, r.lading, r.peer, r.ratio, r.target, r.result])
  if (markdown) {
    const line = (cells: string[]) => `| ${cells.map(c => c.replace(/\|/g, '\\|')).join(' | ')} |`
    return [line(head), line(head.map(() => '---')), ...body.map(line)].join('\n')
  }
  const widths = head.map((h, i) => Math.max(h.length, ...body.map(b => b[i].length)))
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ')
  return [line(head), widths.map(w => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n')
}

// ---------------------------------------------------------------------------------------------
// Sections.

interface BuildRun {
  ms: number
  rssKiB: number
  digest: string
  layerBytes: number
}

let baseLayout = ''
/** An empty umoci image (`umoci init` + `umoci new`), made once and copied per run, untimed. */
async function umociBase(): Promise<string> {
  if (!baseLayout) {
    baseLayout = path.join(work, 'umoci-base')
    await measure('umoci init', 'umoci', ['init', '--layout', baseLayout])
    await measure('umoci new', 'umoci', ['new', '--image', `${baseLayout}:base`])
  }
  return baseLayout
}

async function ladingBuild(
  section: Section,
  data: Dataset,
  out: string,
  keep = false
): Promise<BuildRun> {
  const m = await lading(`build (${data.name})`, [
    'build',
    '--from',
    'scratch',
    '--layers',
    `${data.dir}:/data`,
    '--output',
    out,
    '--created',
    '0'
  ])
  noteRss(section, m)
  const run = { ms: m.ms, rssKiB: m.rssKiB, digest: rootOf(out).digest, layerBytes: layerSize(out) }
  if (!keep) fs.rmSync(out, { recursive: true, force: true })
  return run
}

async function umociBuild(section: Section, data: Dataset, layout: string): Promise<BuildRun> {
  fs.cpSync(await umociBase(), layout, { recursive: true })
  const m = await measure(`umoci insert (${data.name})`, 'umoci', [
    'insert',
    '--image',
    `${layout}:base`,
    data.dir,
    '/data'
  ])
  noteRss(section, m, true)
  const run = {
    ms: m.ms,
    rssKiB: m.rssKiB,
    digest: rootOf(layout, 'base').digest,
    layerBytes: layerSize(layout, 'base')
  }
  fs.rmSync(layout, { recursive: true, force: true })
  return run
}

async function tarGzip(data: Dataset, file: string): Promise<BuildRun> {
  const m = await sh(
    `tar | gzip (${data.name})`,
    'tar -cf - -C "$1" . | gzip > "$2"',
    data.dir,
    file
  )
  const run = { ms: m.ms, rssKiB: m.rssKiB, digest: '', layerBytes: fs.statSync(file).size }
  fs.rmSync(file, { force: true })
  return run
}

const ladingDigests: string[] = []

async function benchBuild(mixed: Dataset): Promise<void> {
  console.log(`\n== build: ${mixed.name}, ${RUNS} run(s), interleaved`)
  await warm(mixed.dir)
  const runs = { lading: [] as BuildRun[], umoci: [] as BuildRun[], tarGzip: [] as BuildRun[] }
  for (let i = 0; i < RUNS; i++) {
    const l = await ladingBuild('build', mixed, path.join(work, `build-lading-${i}`))
    const u = await umociBuild('build', mixed, path.join(work, `build-umoci-${i}`))
    const t = await tarGzip(mixed, path.join(work, `build-tar-${i}.tar.gz`))
    runs.lading.push(l)
    runs.umoci.push(u)
    runs.tarGzip.push(t)
    ladingDigests.push(l.digest)
    console.log(
      `  run ${i + 1}: lading ${secs(l.ms)} ${mbytes(l.layerBytes)}   umoci ${secs(u.ms)} ` +
        `${mbytes(u.layerBytes)}   tar|gzip ${secs(t.ms)} ${mbytes(t.layerBytes)}`
    )
  }
  const med = (rs: BuildRun[], k: 'ms' | 'layerBytes') => median(rs.map(r => r[k]))
  const [lt, ut, tt] = [med(runs.lading, 'ms'), med(runs.umoci, 'ms'), med(runs.tarGzip, 'ms')]
  const [ls, us, ts] = [
    med(runs.lading, 'layerBytes'),
    med(runs.umoci, 'layerBytes'),
    med(runs.tarGzip, 'layerBytes')
  ]
  row('build', 'build time vs umoci insert', secs(lt), secs(ut), lt / ut, '≤ 0.60×', lt / ut <= 0.6)
  row('build', 'layer size vs umoci', mbytes(ls), mbytes(us), ls / us, '≤ 1.10×', ls / us <= 1.1)
  row('build', 'build time vs tar | gzip', secs(lt), secs(tt), lt / tt, '—', null)
  row('build', 'layer size vs tar | gzip', mbytes(ls), mbytes(ts), ls / ts, '—', null)
  json.build = {
    dataset: mixed,
    runs,
    median: {
      ladingMs: lt,
      umociMs: ut,
      tarGzipMs: tt,
      ladingBytes: ls,
      umociBytes: us,
      tarGzipBytes: ts
    },
    ratio: {
      timeVsUmoci: lt / ut,
      sizeVsUmoci: ls / us,
      timeVsTarGzip: lt / tt,
      sizeVsTarGzip: ls / ts
    },
    pass: { time: lt / ut <= 0.6, size: ls / us <= 1.1 }
  }
}

async function benchTiny(tiny: Dataset): Promise<void> {
  console.log(`\n== tiny: ${tiny.name}, ${RUNS} run(s), interleaved`)
  await warm(tiny.dir)
  const runs = { lading: [] as BuildRun[], umoci: [] as BuildRun[] }
  for (let i = 0; i < RUNS; i++) {
    const l = await ladingBuild('tiny', tiny, path.join(work, `tiny-lading-${i}`))
    const u = await umociBuild('tiny', tiny, path.join(work, `tiny-umoci-${i}`))
    runs.lading.push(l)
    runs.umoci.push(u)
    console.log(`  run ${i + 1}: lading ${secs(l.ms)}   umoci ${secs(u.ms)}`)
  }
  const perFile = (ms: number) => (ms * 1000) / tiny.files
  const lt = perFile(median(runs.lading.map(r => r.ms)))
  const ut = perFile(median(runs.umoci.map(r => r.ms)))
  const ls = median(runs.lading.map(r => r.layerBytes))
  const us = median(runs.umoci.map(r => r.layerBytes))
  const us1 = (v: number) => `${v.toFixed(1)} µs/file`
  row('tiny', 'time per file vs umoci', us1(lt), us1(ut), lt / ut, '≤ 1.00×', lt / ut <= 1)
  row('tiny', 'layer size vs umoci', mbytes(ls), mbytes(us), ls / us, '—', null)
  json.tiny = {
    dataset: tiny,
    runs,
    median: { ladingUsPerFile: lt, umociUsPerFile: ut, ladingBytes: ls, umociBytes: us },
    ratio: { timeVsUmoci: lt / ut, sizeVsUmoci: ls / us },
    pass: { time: lt / ut <= 1 }
  }
}

async function benchRepro(mixed: Dataset): Promise<void> {
  console.log(`\n== repro: manifest digests of Lading builds of ${mixed.name}`)
  // Reuses section 1's builds (each to its own output directory); tops up to two when it ran once.
  while (ladingDigests.length < 2) {
    const n = ladingDigests.length
    const r = await ladingBuild('repro', mixed, path.join(work, `repro-${n}`))
    ladingDigests.push(r.digest)
  }
  const distinct = [...new Set(ladingDigests)]
  const ok = distinct.length === 1
  console.log(`  ${ladingDigests.length} builds, ${distinct.length} distinct digest(s)`)
  row(
    'repro',
    `manifest digest of ${ladingDigests.length} builds`,
    ok ? `${distinct[0].slice(0, 19)}…` : `${distinct.length} different`,
    '—',
    null,
    'all equal',
    ok
  )
  json.repro = { digests: ladingDigests, pass: ok }
}

interface PushSource {
  layout: string
  digest: string
  layers: Desc[]
  groups: { bytes: number; entries: number }[]
  /** The directories of the 4 groups, in layer order. */
  groupDirs: string[]
  /** The `--layers` arguments that build the layout, for sections that build it again. */
  layersArgs: string[]
}

let pushSource: PushSource | null = null

/**
 * The image to push and validate: the mixed dataset's top-level entries split into 4 groups of
 * about 50/25/15/10 % of its bytes (hard-linked into 4 directories), built once by Lading as 4
 * layers, untimed.
 */
async function pushLayout(mixed: Dataset): Promise<PushSource> {
  if (pushSource) return pushSource
  const sizeOf = (p: string): number => {
    const st = fs.lstatSync(p)
    if (!st.isDirectory()) return st.size
    return fs.readdirSync(p).reduce((a, n) => a + sizeOf(path.join(p, n)), 0)
  }
  const entries = fs
    .readdirSync(mixed.dir)
    .map(name => ({ name, bytes: sizeOf(path.join(mixed.dir, name)) }))
    .sort((a, b) => b.bytes - a.bytes || a.name.localeCompare(b.name))
  const total = entries.reduce((a, e) => a + e.bytes, 0)
  const shares = [0.5, 0.25, 0.15, 0.1]
  const groups = shares.map(() => ({ bytes: 0, names: [] as string[] }))
  for (const e of entries) {
    // Largest first, each to the group furthest below its share.
    let best = 0
    for (let g = 1; g < groups.length; g++) {
      const gap = (k: number) => shares[k] * total - groups[k].bytes
      if (gap(g) > gap(best)) best = g
    }
    groups[best].bytes += e.bytes
    groups[best].names.push(e.name)
  }
  const layersArgs: string[] = []
  const groupDirs: string[] = []
  groups.forEach((g, i) => {
    const dir = path.join(work, 'push-src', `g${i}`)
    fs.mkdirSync(dir, { recursive: true })
    for (const name of g.names) {
      const r = spawnSync('cp', ['-al', path.join(mixed.dir, name), dir], { encoding: 'utf8' })
      if (r.status !== 0) throw new BenchError(`cp -al ${name}: ${r.stderr}`)
    }
    layersArgs.push('--layers', `${dir}:/data`)
    groupDirs.push(dir)
  })
  const layout = path.join(work, 'push-layout')
  const m = await lading('build (push layout)', [
    'build',
    '--from',
    'scratch',
    ...layersArgs,
    '--output',
    layout,
    '--created',
    '0'
  ])
  noteRss('push-setup', m)
  const layers = manifestOf(layout).layers
  pushSource = {
    layout,
    digest: rootOf(layout).digest,
    layers,
    groups: groups.map(g => ({ bytes: g.bytes, entries: g.names.length })),
    groupDirs,
    layersArgs
  }
  console.log(
    `  push layout: ${layers.length} layers from ${mixed.name} split by top-level entry ` +
      `(${groups.map(g => mbytes(g.bytes)).join(' / ')} raw → ` +
      `${layers.map(l => mbytes(l.size)).join(' / ')} gzip)`
  )
  return pushSource
}

/** The peer's push: `oci-image-tool validate --type image`, then `skopeo copy` to DEST. */
function validateAndCopy(label: string, layout: string, refName: string, dest: string) {
  return sh(
    label,
    'oci-image-tool validate --type image --ref "name=$2" "$1" >/dev/null && ' +
      'skopeo copy -q --dest-tls-verify=false "oci:$1:$2" "docker://$3"',
    layout,
    refName,
    dest
  )
}

async function benchPush(mixed: Dataset): Promise<void> {
  console.log(`\n== push: ${RUNS} run(s), a fresh registry per tool and run`)
  const src = await pushLayout(mixed)
  const ref = 'bench/img:1'
  const runs = {
    ladingEmpty: [] as Measured[],
    peerEmpty: [] as Measured[],
    ladingHas: [] as Measured[],
    peerHas: [] as Measured[]
  }
  // Each run is one job: its first push reads the layout cold (no step of the job checked it), its
  // second finds the verdicts the first kept, as a push repeated in a later step of a job does.
  const ladingPush = (label: string, host: string, out: string, runnerTemp: string) =>
    lading(
      label,
      ['build', '--from', `oci:${src.layout}:latest`, '--push', '--tags', `${host}/${ref}`].concat([
        '--output',
        out
      ]),
      runnerTemp
    )
  const peerPush = (label: string, host: string) =>
    validateAndCopy(label, src.layout, 'latest', `${host}/${ref}`)
  let verified: { registry: string; layout: string; pushedOut: string } | null = null
  for (let i = 0; i < RUNS; i++) {
    const { runnerTemp } = stepDir(`push-${i}`)
    const a = await startRegistry(`lading-${i}`)
    try {
      const b = await startRegistry(`peer-${i}`)
      try {
        const le = await ladingPush(
          'push (empty registry)',
          a.host,
          path.join(work, `push-out-${i}-a`),
          runnerTemp
        )
        const pe = await peerPush('oci-image-tool validate && skopeo copy (empty)', b.host)
        if (!verified) {
          const inspect = await measure('skopeo inspect', 'skopeo', [
            'inspect',
            '--tls-verify=false',
            `docker://${a.host}/${ref}`
          ])
          const registry = (JSON.parse(inspect.stdout) as { Digest: string }).Digest
          verified = {
            registry,
            layout: src.digest,
            pushedOut: rootOf(path.join(work, `push-out-${i}-a`)).digest
          }
          if (registry !== src.digest) {
            console.error(
              `\n!!! PUSH DIGEST MISMATCH: skopeo inspect reports ${registry} for ${a.host}/${ref}` +
                `, the layout has ${src.digest} (Lading's output layout: ${verified.pushedOut})\n`
            )
          }
        }
        const lh = await ladingPush(
          'push (registry has it)',
          a.host,
          path.join(work, `push-out-${i}-b`),
          runnerTemp
        )
        const ph = await peerPush('oci-image-tool validate && skopeo copy (has it)', b.host)
        for (const m of [le, lh]) noteRss('push', m)
        for (const m of [pe, ph]) noteRss('push', m, true)
        runs.ladingEmpty.push(le)
        runs.peerEmpty.push(pe)
        runs.ladingHas.push(lh)
        runs.peerHas.push(ph)
        console.log(
          `  run ${i + 1}: empty lading ${secs(le.ms)} peer ${secs(pe.ms)}   ` +
            `has-it lading ${secs(lh.ms)} peer ${secs(ph.ms)}`
        )
      } finally {
        stopRegistry(b)
      }
    } finally {
      stopRegistry(a)
    }
    fs.rmSync(path.join(work, `push-out-${i}-a`), { recursive: true, force: true })
    fs.rmSync(path.join(work, `push-out-${i}-b`), { recursive: true, force: true })
  }
  const med = (ms: Measured[]) => median(ms.map(m => m.ms))
  const [le, pe, lh, ph] = [
    med(runs.ladingEmpty),
    med(runs.peerEmpty),
    med(runs.ladingHas),
    med(runs.peerHas)
  ]
  const digestOk = verified !== null && verified.registry === verified.layout
  row('push', 'to an empty registry', secs(le), secs(pe), le / pe, '≤ 1.00×', le / pe <= 1)
  row('push', 'to a registry that has it', secs(lh), secs(ph), lh / ph, '≤ 1.50×', lh / ph <= 1.5)
  row(
    'push',
    'pushed digest = layout digest',
    verified ? `${verified.registry.slice(0, 19)}…` : '—',
    verified ? `${verified.layout.slice(0, 19)}…` : '—',
    null,
    'equal',
    digestOk
  )
  json.push = {
    image: {
      what: `${mixed.name} split by top-level entry into ${src.layers.length} layers`,
      groups: src.groups,
      layers: src.layers.map(l => ({ digest: l.digest, size: l.size })),
      digest: src.digest
    },
    peer: 'oci-image-tool validate --type image --ref name=latest LAYOUT && skopeo copy',
    runs: {
      ladingEmpty: strip(runs.ladingEmpty),
      peerEmpty: strip(runs.peerEmpty),
      ladingHas: strip(runs.ladingHas),
      peerHas: strip(runs.peerHas)
    },
    median: { ladingEmptyMs: le, peerEmptyMs: pe, ladingHasMs: lh, peerHasMs: ph },
    ratio: { empty: le / pe, has: lh / ph },
    digestCheck: verified,
    pass: { empty: le / pe <= 1, has: lh / ph <= 1.5, digest: digestOk }
  }
}

/** The blobs a Lading run uploaded, by digest, from its log lines `uploaded sha256:… (N bytes) to …`. */
function uploads(m: Measured): Map<string, number> {
  const out = new Map<string, number>()
  for (const [, digest, n] of m.stderr.matchAll(/^uploaded (\S+) \((\d+) bytes\)/gm))
    out.set(digest, (out.get(digest) ?? 0) + Number(n))
  return out
}
const uploadedBytes = (m: Measured): number => [...uploads(m).values()].reduce((a, n) => a + n, 0)
/** How many blobs a Lading run took from the verdicts of an earlier step instead of reading them. */
const fromEarlierSteps = (m: Measured): number =>
  Number(
    /^(\d+) blob\(s\) of this run were checked by an earlier Lading step/m.exec(m.stderr)?.[1] ?? 0
  )
/** Bytes for the bytes-uploaded rows: kB below a megabyte, so a small layer does not read 0.0 MB. */
const bytesText = (n: number): string => (n < 1e6 ? `${(n / 1e3).toFixed(1)} kB` : mbytes(n))
const strip = (ms: Measured[]) => ms.map(m => ({ ms: m.ms, rssKiB: m.rssKiB }))
const medianMs = (ms: Measured[]) => median(ms.map(m => m.ms))

/** A directory for one run of a section, with an empty RUNNER_TEMP of its own inside. */
function stepDir(name: string): { dir: string; runnerTemp: string } {
  const dir = path.join(work, name)
  fs.rmSync(dir, { recursive: true, force: true })
  const runnerTemp = path.join(dir, 'runner-temp')
  fs.mkdirSync(runnerTemp, { recursive: true })
  return { dir, runnerTemp }
}

/** Starts two registries, one for Lading and one for the peer, and stops both after `body`. */
async function withRegistries<T>(
  name: string,
  body: (lading: Registry, peer: Registry) => Promise<T>
): Promise<T> {
  const a = await startRegistry(`${name}-lading`)
  try {
    const b = await startRegistry(`${name}-peer`)
    try {
      return await body(a, b)
    } finally {
      stopRegistry(b)
    }
  } finally {
    stopRegistry(a)
  }
}

/**
 * Push of a layout Lading built in an earlier step of the same job: each run builds the 4-layer
 * image with `lading build` (untimed) under a RUNNER_TEMP of its own, then pushes that layout with
 * a second `lading build --from oci:...` under the same RUNNER_TEMP, so the verdicts the first
 * step kept are found, as on a runner. The peer validates and copies the same layout.
 */
async function benchPushBuilt(mixed: Dataset): Promise<void> {
  console.log(`\n== pushbuilt: ${RUNS} run(s), a layout built by an earlier lading build step`)
  const src = await pushLayout(mixed)
  const ref = 'bench/built:1'
  const imageBytes = imageBlobBytes(src.layout)
  const runs = {
    ladingEmpty: [] as Measured[],
    peerEmpty: [] as Measured[],
    ladingHas: [] as Measured[],
    peerHas: [] as Measured[]
  }
  const earlier: number[] = []
  for (let i = 0; i < RUNS; i++) {
    const { dir, runnerTemp } = stepDir(`built-${i}`)
    const layout = path.join(dir, 'layout')
    const build = await lading(
      'build (earlier step)',
      ['build', '--from', 'scratch', ...src.layersArgs, '--output', layout, '--created', '0'],
      runnerTemp
    )
    noteRss('push-setup', build)
    if (rootOf(layout).digest !== src.digest)
      throw new BenchError(`the earlier step built ${rootOf(layout).digest}, not ${src.digest}`)
    await withRegistries(`built-${i}`, async (a, b) => {
      const push = (label: string, out: string) =>
        lading(
          label,
          [
            'build',
            '--from',
            `oci:${layout}:latest`,
            '--push',
            '--tags',
            `${a.host}/${ref}`
          ].concat(['--output', path.join(dir, out)]),
          runnerTemp
        )
      const peer = (label: string) => validateAndCopy(label, layout, 'latest', `${b.host}/${ref}`)
      const le = await push('push of an earlier build (empty registry)', 'out-empty')
      const pe = await peer('oci-image-tool validate && skopeo copy (empty)')
      const lh = await push('push of an earlier build (registry has it)', 'out-has')
      const ph = await peer('oci-image-tool validate && skopeo copy (has it)')
      for (const m of [le, lh]) noteRss('pushbuilt', m)
      for (const m of [pe, ph]) noteRss('pushbuilt', m, true)
      runs.ladingEmpty.push(le)
      runs.peerEmpty.push(pe)
      runs.ladingHas.push(lh)
      runs.peerHas.push(ph)
      earlier.push(fromEarlierSteps(le))
      console.log(
        `  run ${i + 1}: empty lading ${secs(le.ms)} peer ${secs(pe.ms)}   ` +
          `has-it lading ${secs(lh.ms)} peer ${secs(ph.ms)}   ` +
          `(${fromEarlierSteps(le)} blob(s) from the earlier step's verdicts)`
      )
    })
    fs.rmSync(dir, { recursive: true, force: true })
  }
  const [le, pe, lh, ph] = [runs.ladingEmpty, runs.peerEmpty, runs.ladingHas, runs.peerHas].map(
    medianMs
  )
  const bytesEmpty = median(runs.ladingEmpty.map(uploadedBytes))
  const bytesHas = median(runs.ladingHas.map(uploadedBytes))
  const metric = 'earlier build, to'
  row(
    'pushbuilt',
    `${metric} an empty registry`,
    secs(le),
    secs(pe),
    le / pe,
    '≤ 1.00×',
    le / pe <= 1
  )
  row(
    'pushbuilt',
    `${metric} a registry that has it`,
    secs(lh),
    secs(ph),
    lh / ph,
    '≤ 1.00×',
    lh / ph <= 1
  )
  const blobs = `image blobs ${mbytes(imageBytes)}`
  const minEarlier = Math.min(...earlier)
  row(
    'pushbuilt',
    "blobs taken from the earlier step's verdicts",
    String(minEarlier),
    `${src.layers.length} layers`,
    null,
    '—',
    null
  )
  row('pushbuilt', 'bytes uploaded, empty registry', bytesText(bytesEmpty), blobs, null, '—', null)
  row('pushbuilt', 'bytes uploaded, registry has it', bytesText(bytesHas), blobs, null, '—', null)
  json.pushbuilt = {
    image: { digest: src.digest, layers: src.layers.length, blobBytes: imageBytes },
    lading:
      'lading build (earlier step, untimed), then lading build --from oci:LAYOUT --push --tags',
    peer: 'oci-image-tool validate --type image --ref name=latest LAYOUT && skopeo copy',
    blobsFromEarlierStep: earlier,
    runs: {
      ladingEmpty: strip(runs.ladingEmpty),
      peerEmpty: strip(runs.peerEmpty),
      ladingHas: strip(runs.ladingHas),
      peerHas: strip(runs.peerHas)
    },
    median: { ladingEmptyMs: le, peerEmptyMs: pe, ladingHasMs: lh, peerHasMs: ph },
    bytesUploaded: { empty: bytesEmpty, has: bytesHas },
    ratio: { empty: le / pe, has: lh / ph },
    pass: { empty: le / pe <= 1, has: lh / ph <= 1 }
  }
}

/** The bytes of a layout's image blobs: the manifest's config and layers. */
function imageBlobBytes(layout: string, ref?: string): number {
  const m = manifestOf(layout, ref)
  return [m.config, ...m.layers].reduce((a, d) => a + d.size, 0)
}

/**
 * The push image's 4 groups inserted by `umoci insert`, one layer each, into an empty umoci image
 * (untimed, once). Lading reads it cold: no verdict of an earlier step names its blobs.
 */
async function umociPushLayout(src: PushSource): Promise<string> {
  const layout = path.join(work, 'umoci-push')
  if (fs.existsSync(layout)) return layout
  fs.cpSync(await umociBase(), layout, { recursive: true })
  for (const dir of src.groupDirs)
    await measure('umoci insert (push image)', 'umoci', [
      'insert',
      '--image',
      `${layout}:base`,
      dir,
      '/data'
    ])
  // Drops the intermediate manifests and configs each insert left, so the layout holds one image.
  await measure('umoci gc', 'umoci', ['gc', '--layout', layout])
  return layout
}

/**
 * Push of a layout made by umoci, against the peer pipeline that gives Lading's guarantee: the
 * image validated, every layer decompressed and its sum compared with its diff_id, then copied.
 */
async function benchPushUmoci(mixed: Dataset): Promise<void> {
  console.log(`\n== pushumoci: ${RUNS} run(s), a layout made by umoci insert, to an empty registry`)
  const layout = await umociPushLayout(await pushLayout(mixed))
  const manifest = manifestOf(layout, 'base')
  const config = JSON.parse(fs.readFileSync(blobPath(layout, manifest.config.digest), 'utf8')) as {
    rootfs: { diff_ids: string[] }
  }
  // BLOB DIFF_ID pairs; the peer is handed them as arguments, as a script would read them with jq.
  const pairs = manifest.layers.flatMap((l, k) => [
    blobPath(layout, l.digest),
    config.rootfs.diff_ids[k]
  ])
  const ref = 'bench/umoci:1'
  const imageBytes = imageBlobBytes(layout, 'base')
  const digest = rootOf(layout, 'base').digest
  const runs = { lading: [] as Measured[], peer: [] as Measured[] }
  const pushed: string[] = []
  const fromVerdicts: number[] = []
  for (let i = 0; i < RUNS; i++) {
    const { dir, runnerTemp } = stepDir(`umoci-${i}`)
    await withRegistries(`umoci-${i}`, async (a, b) => {
      const l = await lading(
        'push of a umoci layout',
        ['build', '--from', `oci:${layout}:base`, '--push', '--tags', `${a.host}/${ref}`].concat([
          '--output',
          path.join(dir, 'out')
        ]),
        runnerTemp
      )
      const p = await sh(
        'oci-image-tool validate && gzip -dc | sha256sum = diff_id && skopeo copy',
        'layout=$1; dest=$2; shift 2\n' +
          'oci-image-tool validate --type image --ref name=base "$layout" >/dev/null || exit 1\n' +
          'while [ $# -gt 0 ]; do\n' +
          '  sum=$(gzip -dc "$1" | sha256sum) || exit 1\n' +
          '  [ "sha256:${sum%% *}" = "$2" ] || { echo "$1: diff_id mismatch" >&2; exit 1; }\n' +
          '  shift 2\n' +
          'done\n' +
          'skopeo copy -q --dest-tls-verify=false "oci:$layout:base" "docker://$dest"',
        layout,
        `${b.host}/${ref}`,
        ...pairs
      )
      noteRss('pushumoci', l)
      noteRss('pushumoci', p, true)
      runs.lading.push(l)
      runs.peer.push(p)
      pushed.push(/^digest: (\S+)$/m.exec(l.stdout)?.[1] ?? '?')
      // The layout is read cold: a verdict here would mean the run is not measuring what it says.
      fromVerdicts.push(fromEarlierSteps(l))
      console.log(
        `  run ${i + 1}: lading ${secs(l.ms)}   peer ${secs(p.ms)}   ` +
          `(${fromEarlierSteps(l)} blob(s) taken from verdicts)`
      )
    })
    fs.rmSync(dir, { recursive: true, force: true })
  }
  const [lt, pt] = [medianMs(runs.lading), medianMs(runs.peer)]
  const bytes = median(runs.lading.map(uploadedBytes))
  row(
    'pushumoci',
    'umoci layout, validate + push',
    secs(lt),
    secs(pt),
    lt / pt,
    '≤ 1.00×',
    lt / pt <= 1
  )
  row(
    'pushumoci',
    'bytes uploaded, empty registry',
    bytesText(bytes),
    `image blobs ${mbytes(imageBytes)}`,
    null,
    '—',
    null
  )
  json.pushumoci = {
    image: { digest, layers: manifest.layers.length, blobBytes: imageBytes, pushed },
    blobsFromVerdicts: fromVerdicts,
    peer:
      'oci-image-tool validate --type image --ref name=base LAYOUT && for each layer: ' +
      'gzip -dc BLOB | sha256sum = diff_id && skopeo copy',
    runs: { lading: strip(runs.lading), peer: strip(runs.peer) },
    median: { ladingMs: lt, peerMs: pt },
    bytesUploaded: bytes,
    ratio: lt / pt,
    pass: lt / pt <= 1
  }
}

/** The small app directory of the rebuild image; `version` changes every file's content. */
function writeApp(dir: string, version: string): void {
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(path.join(dir, 'lib'), { recursive: true })
  for (let k = 0; k < 40; k++) {
    const body = `// ${version}, module ${k}\n` + `export const value${k} = ${k}\n`.repeat(100)
    fs.writeFileSync(path.join(dir, 'lib', `m${k}.js`), body)
  }
  fs.writeFileSync(path.join(dir, 'VERSION'), `${version}\n`)
}

/**
 * Rebuild of a two-layer image (the mixed tree, then a small app directory) after changing only
 * the app: each run pushes the image once to a fresh registry (untimed), changes the app, then
 * builds and pushes it with `--cache-from` the previous push, and the same command without it
 * (the cold build: the registry by then holds every blob, so the cache is the only difference).
 */
async function benchRebuild(mixed: Dataset): Promise<void> {
  console.log(`\n== rebuild: ${RUNS} run(s), the app layer changed, --cache-from vs cold`)
  await warm(mixed.dir)
  const ref = 'bench/app:latest'
  const app = path.join(work, 'rebuild-app')
  const runs = { cached: [] as Measured[], cold: [] as Measured[] }
  const unchangedBytes: number[] = []
  const checks: { cached: string; cold: string; fromCache: boolean }[] = []
  for (let i = 0; i < RUNS; i++) {
    const { dir, runnerTemp } = stepDir(`rebuild-${i}`)
    const reg = await startRegistry(`rebuild-${i}`)
    try {
      const build = (label: string, out: string, extra: string[]) =>
        lading(
          label,
          [
            'build',
            '--from',
            'scratch',
            '--layers',
            `${mixed.dir}:/data`,
            '--layers',
            `${app}:/app`
          ]
            .concat(['--output', path.join(dir, out), '--created', '0', '--push'])
            .concat(['--tags', `${reg.host}/${ref}`, ...extra]),
          runnerTemp
        )
      writeApp(app, `run ${i} v1`)
      noteRss('push-setup', await build('first push', 'first', []))
      const unchanged = manifestOf(path.join(dir, 'first')).layers[0].digest
      writeApp(app, `run ${i} v2`)
      const c = await build('rebuild with --cache-from', 'cached', [
        '--cache-from',
        `${reg.host}/${ref}`
      ])
      const k = await build('cold rebuild', 'cold', [])
      for (const m of [c, k]) noteRss('rebuild', m)
      runs.cached.push(c)
      runs.cold.push(k)
      unchangedBytes.push(uploads(c).get(unchanged) ?? 0)
      const check = {
        cached: rootOf(path.join(dir, 'cached')).digest,
        cold: rootOf(path.join(dir, 'cold')).digest,
        fromCache: c.stderr.includes('taken from the cache')
      }
      checks.push(check)
      console.log(
        `  run ${i + 1}: cache-from ${secs(c.ms)} (${bytesText(uploadedBytes(c))} up)   cold ${secs(k.ms)}` +
          (check.fromCache ? '' : '   (no layer taken from the cache!)')
      )
    } finally {
      stopRegistry(reg)
    }
    fs.rmSync(dir, { recursive: true, force: true })
  }
  const [ct, kt] = [medianMs(runs.cached), medianMs(runs.cold)]
  const unchangedMax = Math.max(...unchangedBytes)
  const same = checks.every(c => c.cached === c.cold && c.fromCache)
  row(
    'rebuild',
    'app changed: --cache-from vs cold build',
    secs(ct),
    secs(kt),
    ct / kt,
    '≤ 0.30×',
    ct / kt <= 0.3
  )
  row(
    'rebuild',
    'bytes of the unchanged layer uploaded',
    String(unchangedMax),
    '—',
    null,
    '0',
    unchangedMax === 0
  )
  row(
    'rebuild',
    'bytes uploaded, rebuild push',
    bytesText(median(runs.cached.map(uploadedBytes))),
    '—',
    null,
    '—',
    null
  )
  row(
    'rebuild',
    'digest with --cache-from = cold digest',
    same ? `${checks[0].cached.slice(0, 19)}…` : 'differs or no cache hit',
    `${checks[0].cold.slice(0, 19)}…`,
    null,
    'equal',
    same
  )
  json.rebuild = {
    image: `${mixed.name} at /data, then a 41-file app directory at /app`,
    lading:
      'lading build ... --push --cache-from REGISTRY/REPO:latest (timed) vs the same without --cache-from',
    runs: { cached: strip(runs.cached), cold: strip(runs.cold) },
    median: { cachedMs: ct, coldMs: kt },
    bytesUploaded: { unchangedLayer: unchangedBytes, rebuild: runs.cached.map(uploadedBytes) },
    checks,
    ratio: ct / kt,
    pass: { time: ct / kt <= 0.3, unchangedBytes: unchangedMax === 0, digest: same }
  }
}

async function benchValidate(mixed: Dataset): Promise<void> {
  console.log(`\n== validate: ${RUNS} run(s), interleaved`)
  const src = await pushLayout(mixed)
  const blobs = src.layers.map(l => blobPath(src.layout, l.digest))
  const bytes = src.layers.reduce((a, l) => a + l.size, 0)
  const diffIds = (
    JSON.parse(
      fs.readFileSync(blobPath(src.layout, manifestOf(src.layout).config.digest), 'utf8')
    ) as { rootfs: { diff_ids: string[] } }
  ).rootfs.diff_ids
  const runs = { lading: [] as Measured[], peer: [] as Measured[] }
  await sh('warming the page cache', 'cat "$@" > /dev/null', ...blobs)
  for (let i = 0; i < RUNS; i++) {
    const l = await lading('validate', ['validate', `oci:${src.layout}`])
    const p = await sh(
      'gzip -dc | sha256sum',
      'for b in "$@"; do gzip -dc "$b" | sha256sum || exit 1; done',
      ...blobs
    )
    // The baseline must have done the work: its sums are the config's diff_ids.
    const sums = p.stdout
      .trim()
      .split('\n')
      .map(s => `sha256:${s.split(' ')[0]}`)
    if (sums.join() !== diffIds.join()) {
      throw new BenchError(
        `gzip -dc | sha256sum gave ${sums}, the config's diff_ids are ${diffIds}`
      )
    }
    noteRss('validate', l)
    noteRss('validate', p, true)
    runs.lading.push(l)
    runs.peer.push(p)
    console.log(`  run ${i + 1}: lading ${secs(l.ms)}   gzip -dc | sha256sum ${secs(p.ms)}`)
  }
  const lt = median(runs.lading.map(m => m.ms))
  const pt = median(runs.peer.map(m => m.ms))
  const lr = bytes / 1e6 / (lt / 1000)
  const pr = bytes / 1e6 / (pt / 1000)
  const mbps = (v: number) => `${v.toFixed(1)} MB/s`
  row(
    'validate',
    `throughput, ${mbytes(bytes)} of layers`,
    mbps(lr),
    mbps(pr),
    lr / pr,
    '≥ 0.80×',
    lr / pr >= 0.8
  )
  json.validate = {
    layerBytes: bytes,
    layers: src.layers.length,
    peer: 'gzip -dc BLOB | sha256sum, per blob, one after another',
    runs: {
      lading: runs.lading.map(m => ({ ms: m.ms, rssKiB: m.rssKiB })),
      peer: runs.peer.map(m => ({ ms: m.ms, rssKiB: m.rssKiB }))
    },
    median: { ladingMs: lt, peerMs: pt, ladingMBps: lr, peerMBps: pr },
    ratio: lr / pr,
    pass: lr / pr >= 0.8
  }
}

async function benchRss(mixed: Dataset): Promise<void> {
  console.log(`\n== rss: peak RSS of every Lading run; one build of a ~${BIG_MB} MB layer`)
  // The 200 MB build's peak, to set the big one beside; one untimed build when section 1 did not run.
  if (!ladingRss.build?.length) {
    await ladingBuild('build', mixed, path.join(work, 'rss-mixed'))
  }
  const big = await dataset(`mixed-${BIG_MB}mb-${BIG_FILES}f`, 'mixed', [BIG_MB, BIG_FILES])
  await warm(big.dir)
  const b = await ladingBuild('rss', big, path.join(work, 'rss-big'))
  console.log(`  ${big.name}: ${secs(b.ms)}, layer ${mbytes(b.layerBytes)}, peak ${mib(b.rssKiB)}`)
  const limit = RSS_LIMIT_MIB * 1024
  const perSection: Record<
    string,
    { ladingMaxKiB: number; peerMaxKiB: number | null; pass: boolean }
  > = {}
  const sections: [Section | 'push-setup', string][] = [
    ['build', `build of ${mixed.name}`],
    ['tiny', 'build of tiny files'],
    ['repro', 'extra repro builds'],
    ['push-setup', 'untimed setup builds (push image, earlier steps, first pushes)'],
    ['push', 'push (empty and has-it)'],
    ['pushbuilt', 'push of an earlier build'],
    ['pushumoci', 'push of a umoci layout'],
    ['rebuild', 'rebuild (--cache-from and cold)'],
    ['validate', 'validate']
  ]
  for (const [s, what] of sections) {
    const l = ladingRss[s]
    if (!l?.length) continue
    const lmax = Math.max(...l)
    const p = s === 'push-setup' ? undefined : peerRss[s as Section]
    const pmax = p?.length ? Math.max(...p) : null
    row(
      'rss',
      `peak RSS, ${what}`,
      mib(lmax),
      pmax === null ? '—' : mib(pmax),
      pmax === null ? null : lmax / pmax,
      `≤ ${RSS_LIMIT_MIB} MiB`,
      lmax <= limit
    )
    perSection[s] = { ladingMaxKiB: lmax, peerMaxKiB: pmax, pass: lmax <= limit }
  }
  const small = Math.max(...(ladingRss.build ?? []))
  row(
    'rss',
    `peak RSS, ${BIG_MB} MB build (${mbytes(b.layerBytes)} layer) vs ${MB} MB build`,
    mib(b.rssKiB),
    mib(small),
    b.rssKiB / small,
    `≤ ${RSS_LIMIT_MIB} MiB`,
    b.rssKiB <= limit
  )
  json.rss = {
    limitMiB: RSS_LIMIT_MIB,
    perSection,
    big: { dataset: big, ...b, smallBuildPeakKiB: small, pass: b.rssKiB <= limit }
  }
}

// ---------------------------------------------------------------------------------------------
// Main.

function requireTools(): void {
  const need: [string, string][] = [['/usr/bin/time', 'GNU time (Debian package time)']]
  const peers = new Set<string>()
  if (on('build') || on('tiny') || on('pushumoci')) peers.add('umoci')
  if (on('build')) peers.add('tar').add('gzip')
  if (on('push') || on('pushbuilt') || on('pushumoci'))
    peers.add('oci-image-tool').add('skopeo').add('/usr/bin/docker-registry')
  if (on('rebuild')) peers.add('/usr/bin/docker-registry')
  if (on('validate') || on('pushumoci')) peers.add('gzip').add('sha256sum')
  for (const p of peers) need.push([p, p])
  const missing = need.filter(([bin]) => !quick('sh', ['-c', 'command -v "$1"', 'sh', bin]).ok)
  if (!fs.existsSync(path.join(distCli, 'index.js'))) {
    console.error(`bench: ${cli} is missing: run npm run package (npm run bench does it)`)
    process.exit(2)
  }
  if (missing.length) {
    console.error(
      `bench: missing tool(s): ${missing.map(([, what]) => what).join(', ')}\n` +
        `       bash scripts/ensure-tools.sh installs them` +
        (missing.some(([b]) => b === '/usr/bin/time') ? ' (GNU time: apt-get install time)' : '')
    )
    process.exit(2)
  }
}

function machine(): Record<string, string> {
  const first = (s: string) => s.split('\n')[0]
  const cpu = /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '?'
  const git = quick('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'])
  const dirty = quick('git', ['-C', repo, 'status', '--porcelain', '--', 'src']).out
    ? ' (src modified)'
    : ''
  return {
    date: new Date().toISOString(),
    cores: quick('nproc', []).out,
    cpu,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    lading:
      `${first(quick(process.execPath, [cli, '--version']).out)} @ ${git.ok ? git.out : '?'}${dirty}; ` +
      `dist/cli/index.js sha256:${createHash('sha256').update(fs.readFileSync(cli)).digest('hex').slice(0, 16)}` +
      ` (built ${fs.statSync(path.join(distCli, 'index.js')).mtime.toISOString()})`,
    umoci: first(quick('umoci', ['--version']).out),
    skopeo: first(quick('skopeo', ['--version']).out),
    'docker-registry': first(quick('/usr/bin/docker-registry', ['--version']).out),
    'oci-image-tool': first(quick('oci-image-tool', ['--version']).out),
    gzip: first(quick('gzip', ['--version']).out)
  }
}

/**
 * The compression behind the `compression-level` default and the zstd advice: the mixed tree's
 * tar on one core through Node's zlib, cut in 1 MiB blocks for gzip as Lading does, and as one
 * stream for zstd as Lading writes it. Layer size and MB/s of tar per core.
 */
function benchLevels(data: Dataset): void {
  console.log(`\n== levels: ${data.name}, one core, Node's zlib`)
  const tar = spawnSync('tar', ['-cf', '-', '--sort=name', '-C', data.dir, '.'], {
    maxBuffer: 4 * 1024 ** 3
  })
  if (tar.status !== 0) throw new BenchError(`tar of ${data.dir} failed: ${tar.stderr}`)
  const all = tar.stdout
  const blocks: Buffer[] = []
  for (let i = 0; i < all.length; i += 1024 * 1024) blocks.push(all.subarray(i, i + 1024 * 1024))
  const measure = (label: string, compress: () => number): { size: number; mbs: number } => {
    const t = process.hrtime.bigint()
    const size = compress()
    const s = Number(process.hrtime.bigint() - t) / 1e9
    const mbs = all.length / 1e6 / s
    console.log(`  ${label.padEnd(8)} ${mbytes(size).padStart(9)}  ${mbs.toFixed(0)} MB/s`)
    return { size, mbs }
  }
  const out: Record<string, { size: number; mbs: number }> = {}
  for (const level of [1, 2, 4, 6])
    out[`gzip-${level}`] = measure(`gzip ${level}`, () =>
      blocks.reduce((n, b) => n + zlib.gzipSync(b, { level }).length, 0)
    )
  out['zstd-3'] = measure(
    'zstd 3',
    () =>
      zlib.zstdCompressSync(all, {
        params: {
          [zlib.constants.ZSTD_c_compressionLevel]: 3,
          [zlib.constants.ZSTD_c_checksumFlag]: 1
        }
      }).length
  )
  json.levels = { tarBytes: all.length, ...out }
  const ref = out['gzip-4']
  for (const [name, r] of Object.entries(out))
    row(
      'levels',
      `${name.replace('-', ' level ')}: layer size, speed per core`,
      `${mbytes(r.size)}, ${r.mbs.toFixed(0)} MB/s`,
      `gzip level 4: ${mbytes(ref.size)}, ${ref.mbs.toFixed(0)} MB/s`,
      r.mbs / ref.mbs,
      '—',
      null
    )
}

async function main(): Promise<number> {
  requireTools()
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'lading-bench-'))
  tempDirs.add(work)
  fs.cpSync(distCli, path.join(work, 'lading-cli'), { recursive: true })
  cli = path.join(work, 'lading-cli', 'index.js')
  const info = machine()
  console.log(
    `lading bench: ${[...ONLY].join(', ')}; ${RUNS} run(s); mixed ${MB} MB / ${FILES} files, ` +
      `tiny ${TINY} files; ${info.cores} cores ${info.cpu}; node ${info.node}`
  )

  const needMixed = ALL_SECTIONS.some(s => s !== 'tiny' && on(s))
  const mixed = needMixed ? await dataset(`mixed-${MB}mb-${FILES}f`, 'mixed', [MB, FILES]) : null
  const tiny = on('tiny') ? await dataset(`tiny-${TINY}`, 'tiny', [TINY]) : null

  if (on('build') && mixed) await benchBuild(mixed)
  if (on('tiny') && tiny) await benchTiny(tiny)
  if (on('repro') && mixed) await benchRepro(mixed)
  if (on('push') && mixed) await benchPush(mixed)
  if (on('pushbuilt') && mixed) await benchPushBuilt(mixed)
  if (on('pushumoci') && mixed) await benchPushUmoci(mixed)
  if (on('rebuild') && mixed) await benchRebuild(mixed)
  if (on('validate') && mixed) await benchValidate(mixed)
  if (on('rss') && mixed) await benchRss(mixed)
  if (on('levels') && mixed) benchLevels(mixed)

  const failed = rows.filter(r => r.result === 'FAIL').length
  console.log(`\n${table(false)}\n`)
  console.log(failed ? `${failed} target(s) FAILED` : 'all targets met')

  const results = path.join(here, 'results')
  fs.mkdirSync(results, { recursive: true })
  const header = [
    '# Lading benchmark',
    '',
    `\`npm run bench\` — ${RUNS} run(s) per measurement, interleaved, medians; ` +
      `every tool timed as a whole process (wall clock; peak RSS from GNU time).`,
    '',
    ...Object.entries(info).map(([k, v]) => `- ${k}: ${v}`),
    `- datasets: mixed ${MB} MB / ${FILES} files, tiny ${TINY} files, big ${BIG_MB} MB / ${BIG_FILES} files` +
      ` (bench/dataset.ts)`,
    `- sections: ${[...ONLY].join(', ')}`,
    ''
  ]
  fs.writeFileSync(
    path.join(results, 'latest.md'),
    [
      ...header,
      table(true),
      '',
      failed ? `**${failed} target(s) FAILED**` : '**All targets met.**',
      ''
    ].join('\n')
  )
  fs.writeFileSync(
    path.join(results, 'latest.json'),
    JSON.stringify(
      {
        machine: info,
        config: {
          runs: RUNS,
          mb: MB,
          files: FILES,
          tiny: TINY,
          bigMb: BIG_MB,
          bigFiles: BIG_FILES,
          sections: [...ONLY]
        },
        rows,
        ...json,
        failed
      },
      null,
      2
    ) + '\n'
  )
  console.log(`wrote ${path.relative(repo, results)}/latest.md and latest.json`)
  return failed ? 1 : 0
}

main()
  .then(code => {
    cleanup()
    process.exitCode = code
  })
  .catch(err => {
    cleanup()
    console.error(
      `\nbench stopped: ${err instanceof BenchError ? err.message : err instanceof Error ? err.stack : err}`
    )
    process.exitCode = 1
  })
