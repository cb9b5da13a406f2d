/**
 * Push speed against `skopeo copy` in the same run: a ~200 MB single-platform OCI layout pushed
 * to an empty local registry (CNCF distribution on 127.0.0.1) and again to one that has it.
 * Run with Node 24: `node --experimental-strip-types bench/push.ts`
 * (LADING_BENCH_MB sets the image size, LADING_BENCH_RUNS the repetitions; medians reported).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import * as net from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const totalMB = Number(process.env.LADING_BENCH_MB ?? 200)
const runs = Number(process.env.LADING_BENCH_RUNS ?? 3)
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'lading-bench-push-'))

function writeBlob(layout: string, data: Buffer): { digest: string; size: number } {
  const hex = createHash('sha256').update(data).digest('hex')
  fs.writeFileSync(path.join(layout, 'blobs', 'sha256', hex), data)
  return { digest: `sha256:${hex}`, size: data.length }
}

/** Layers of random bytes (as incompressible as already-compressed layers), largest first. */
function makeLayout(dir: string): void {
  fs.mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true })
  const shares = [0.4, 0.3, 0.2, 0.07, 0.03]
  const layers = shares.map(s => ({
    mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    ...writeBlob(dir, randomBytes(Math.round(s * totalMB * 1e6)))
  }))
  const config = {
    mediaType: 'application/vnd.oci.image.config.v1+json',
    ...writeBlob(
      dir,
      Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          rootfs: { type: 'layers', diff_ids: layers.map(l => l.digest) }
        })
      )
    )
  }
  const manifest = {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    ...writeBlob(
      dir,
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config,
          layers
        })
      )
    )
  }
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }))
  fs.writeFileSync(
    path.join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }]
    })
  )
}

function freePort(): Promise<number> {
  return new Promise(resolve => {
    const s = net.createServer()
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
}

async function startRegistry(name: string): Promise<{ host: string; child: ChildProcess }> {
  const dir = path.join(work, name)
  fs.mkdirSync(dir, { recursive: true })
  const host = `127.0.0.1:${await freePort()}`
  const config = path.join(dir, 'config.yml')
  fs.writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n` +
      `    rootdirectory: ${dir}/data\n  delete:\n    enabled: true\nhttp:\n  addr: ${host}\n`
  )
  const child = spawn('/usr/bin/docker-registry', ['serve', config], { stdio: 'ignore' })
  for (let i = 0; i < 150; i++) {
    try {
      if ((await fetch(`http://${host}/v2/`)).status === 200) return { host, child }
    } catch {
      // not up yet
    }
    await new Promise(r => setTimeout(r, 100))
  }
  child.kill('SIGKILL')
  throw new Error(`docker-registry on ${host} did not start`)
}

/** The whole process, start-up and bundle load included, as skopeo is timed. */
function timeLading(bundle: string, layout: string, ref: string): number {
  const t = process.hrtime.bigint()
  const r = spawnSync(process.execPath, [bundle, layout, ref], { encoding: 'utf8' })
  const ms = Number(process.hrtime.bigint() - t) / 1e6
  if (r.status !== 0) throw new Error(`lading push failed: ${r.stderr}`)
  return ms
}

function timeSkopeo(layout: string, ref: string): number {
  const t = process.hrtime.bigint()
  execFileSync(
    'skopeo',
    ['copy', '--dest-tls-verify=false', `oci:${layout}:latest`, `docker://${ref}`],
    {
      stdio: 'ignore'
    }
  )
  return Number(process.hrtime.bigint() - t) / 1e6
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function main(): Promise<void> {
  const layout = path.join(work, 'layout')
  makeLayout(layout)
  const bundleDir = path.join(work, 'bundle')
  execFileSync(
    path.join(repo, 'node_modules', '.bin', 'ncc'),
    ['build', path.join(repo, 'bench', 'push-child.ts'), '-o', bundleDir, '-q'],
    { stdio: 'inherit' }
  )
  const bundle = path.join(bundleDir, 'index.js')
  const times = {
    ladingEmpty: [] as number[],
    ladingHas: [] as number[],
    skopeoEmpty: [] as number[],
    skopeoHas: [] as number[]
  }
  const children: ChildProcess[] = []
  try {
    for (let i = 0; i < runs; i++) {
      // A fresh registry per tool and run, so "empty" is empty; interleaved so drift hits both.
      const a = await startRegistry(`lading-${i}`)
      const b = await startRegistry(`skopeo-${i}`)
      children.push(a.child, b.child)
      times.ladingEmpty.push(timeLading(bundle, layout, `${a.host}/bench/img:1`))
      times.skopeoEmpty.push(timeSkopeo(layout, `${b.host}/bench/img:1`))
      times.ladingHas.push(timeLading(bundle, layout, `${a.host}/bench/img:1`))
      times.skopeoHas.push(timeSkopeo(layout, `${b.host}/bench/img:1`))
      a.child.kill('SIGTERM')
      b.child.kill('SIGTERM')
    }
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
  }
  const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)])) as Record<
    keyof typeof times,
    number
  >
  const row = (label: string, lading: number, skopeo: number) =>
    `${label.padEnd(26)} lading ${(lading / 1000).toFixed(2).padStart(6)} s   skopeo ${(skopeo / 1000).toFixed(2).padStart(6)} s   skopeo/lading ${(skopeo / lading).toFixed(2)}x`
  console.log(
    `push of a ${totalMB} MB image (5 layers), median of ${runs} runs, loopback distribution 2.8`
  )
  console.log(row('to an empty registry', m.ladingEmpty, m.skopeoEmpty))
  console.log(row('to a registry that has it', m.ladingHas, m.skopeoHas))
  console.log(JSON.stringify({ totalMB, runs, times }))
}

main()
  .catch(err => {
    console.error(err instanceof Error ? err.message : String(err))
    process.exitCode = 1
  })
  .finally(() => fs.rmSync(work, { recursive: true, force: true }))
