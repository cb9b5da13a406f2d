/**
 * Throughput of layer validation against `gzip -dc | sha256sum` on the same blobs, in one run.
 *
 *   npm ci && npx node bench/validate-throughput.mjs [--mib 192] [--rounds 3]
 *
 * Builds src/validate with ncc into a temporary directory (no tsx or ts-node needed), writes a
 * layout of gzip layers made of tar entries, then times both ways over the same layer blobs and
 * prints the ratio (validator throughput / baseline throughput). Exits 1 below 0.8.
 */
import { execFileSync, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import * as fs from 'node:fs/promises'
import * as os from 'node:os'
import * as path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import * as zlib from 'node:zlib'
import tar from 'tar-stream'

const args = process.argv.slice(2)
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : dflt
}
const TOTAL_MIB = opt('mib', 192)
const ROUNDS = opt('rounds', 3)
const LAYERS = 3
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const work = await fs.mkdtemp(path.join(os.tmpdir(), 'lading-bench-validate-'))

try {
  const build = path.join(work, 'build')
  execFileSync(
    'npx',
    [
      'ncc',
      'build',
      path.join(repo, 'src/validate/index.ts'),
      '-o',
      build,
      '-q',
      '--transpile-only'
    ],
    {
      cwd: repo,
      stdio: ['ignore', 'ignore', 'inherit']
    }
  )
  const { validateLayout, formatReport } = await import(
    pathToFileURL(path.join(build, 'index.js')).href
  )

  // Text-like content compresses about as well as real layers (3-4x), unlike zeros or noise.
  const words =
    'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore'.split(
      ' '
    )
  let seed = 42
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296
  const chunk = () => {
    const parts = []
    let n = 0
    while (n < 1 << 20) {
      const w = rnd() < 0.1 ? rnd().toString(36).slice(2) : words[Math.floor(rnd() * words.length)]
      parts.push(w)
      n += w.length + 1
    }
    return Buffer.from(parts.join(' ')).subarray(0, 1 << 20)
  }

  const layout = path.join(work, 'layout')
  await fs.mkdir(path.join(layout, 'blobs', 'sha256'), { recursive: true })
  const put = async bytes => {
    const digest = 'sha256:' + createHash('sha256').update(bytes).digest('hex')
    await fs.writeFile(path.join(layout, 'blobs', 'sha256', digest.slice(7)), bytes)
    return { digest, size: bytes.length }
  }
  const layers = []
  const diffIds = []
  const perLayer = Math.max(1, Math.floor(TOTAL_MIB / LAYERS))
  for (let l = 0; l < LAYERS; l++) {
    const pack = tar.pack()
    const tmp = path.join(work, `layer-${l}`)
    const raw = createHash('sha256')
    const diff = createHash('sha256')
    const gz = zlib.createGzip({ level: 6 })
    gz.on('data', c => raw.update(c))
    pack.on('data', c => diff.update(c))
    const written = pipeline(pack, gz, createWriteStream(tmp))
    for (let i = 0; i < perLayer; i++) {
      const data = chunk()
      await new Promise((resolve, reject) =>
        pack.entry({ name: `data/${l}/file-${i}.txt`, size: data.length }, data, e =>
          e ? reject(e) : resolve()
        )
      )
    }
    pack.finalize()
    await written
    const digest = 'sha256:' + raw.digest('hex')
    await fs.rename(tmp, path.join(layout, 'blobs', 'sha256', digest.slice(7)))
    const size = (await fs.stat(path.join(layout, 'blobs', 'sha256', digest.slice(7)))).size
    layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size })
    diffIds.push('sha256:' + diff.digest('hex'))
  }
  const config = await put(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: diffIds }
      })
    )
  )
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers
    })
  )
  const m = await put(manifest)
  await fs.writeFile(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
  await fs.writeFile(
    path.join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m }]
    })
  )

  const compressed = layers.reduce((n, l) => n + l.size, 0)
  const uncompressed = perLayer * LAYERS * (1 << 20)
  const blobs = layers.map(l => path.join(layout, 'blobs', 'sha256', l.digest.slice(7)))

  const baseline = async () => {
    const t = process.hrtime.bigint()
    for (const b of blobs)
      await new Promise((resolve, reject) => {
        const p = spawn('sh', ['-c', 'gzip -dc "$1" | sha256sum >/dev/null', 'sh', b], {
          stdio: 'inherit'
        })
        p.on('exit', code =>
          code === 0 ? resolve() : reject(new Error(`gzip | sha256sum exited ${code}`))
        )
      })
    return Number(process.hrtime.bigint() - t) / 1e9
  }
  const validator = async () => {
    const t = process.hrtime.bigint()
    const r = await validateLayout(layout)
    const s = Number(process.hrtime.bigint() - t) / 1e9
    if (r.findings.length) throw new Error('the benchmark layout is not clean:\n' + formatReport(r))
    return s
  }

  // Interleave the two so that cache warmth and machine load affect both alike; keep the best.
  let best = { base: Infinity, val: Infinity }
  await baseline()
  for (let i = 0; i < ROUNDS; i++) {
    best.base = Math.min(best.base, await baseline())
    best.val = Math.min(best.val, await validator())
  }
  const mibs = s => (uncompressed / (1 << 20) / s).toFixed(0)
  const ratio = best.base / best.val
  console.log(
    `layers: ${LAYERS} gzip, ${(compressed / (1 << 20)).toFixed(1)} MiB compressed, ${uncompressed / (1 << 20)} MiB uncompressed; best of ${ROUNDS}`
  )
  console.log(
    `gzip -dc | sha256sum : ${best.base.toFixed(3)} s  (${mibs(best.base)} MiB/s uncompressed)`
  )
  console.log(
    `validateLayout       : ${best.val.toFixed(3)} s  (${mibs(best.val)} MiB/s uncompressed; also hashes the compressed bytes and parses the tar)`
  )
  console.log(`ratio (validator / baseline throughput): ${ratio.toFixed(2)}  (target >= 0.80)`)
  process.exitCode = ratio >= 0.8 ? 0 : 1
} finally {
  await fs.rm(work, { recursive: true, force: true })
}
