/**
 * Memory and speed of building a gzip layer from a 1 GiB tree, against `tar | gzip -6` on the
 * same data in the same run. Run with Node 24: `node --experimental-strip-types bench/layer-memory.ts`
 * (LADING_BENCH_MIB sets the size of the large files in MiB, default 1024).
 * Exits non-zero when the peak RSS of the build reaches 200 MiB.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

const LIMIT_MIB = 200
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const totalMiB = Number(process.env.LADING_BENCH_MIB ?? 1024)
const bigFiles = 64
const bigMiB = totalMiB / bigFiles
const smallFiles = 4000

function makeData(dir: string): number {
  let bytes = 0
  // Base64 of random bytes: about as compressible as minified code or text, unlike raw noise.
  for (let i = 0; i < bigFiles; i++) {
    const fd = fs.openSync(path.join(dir, `big-${String(i).padStart(2, '0')}.dat`), 'w')
    let left = Math.round(bigMiB * 1024 * 1024)
    while (left > 0) {
      const chunk = Buffer.from(randomBytes(3 * 1024 * 1024).toString('base64')).subarray(0, left)
      fs.writeSync(fd, chunk)
      left -= chunk.length
      bytes += chunk.length
    }
    fs.closeSync(fd)
  }
  for (let i = 0; i < smallFiles; i++) {
    const sub = path.join(dir, 'small', String(i % 40))
    fs.mkdirSync(sub, { recursive: true })
    const data = Buffer.from(randomBytes(256 + (i % 16) * 256).toString('hex'))
    fs.writeFileSync(path.join(sub, `f${i}.txt`), data)
    bytes += data.length
  }
  return bytes
}

function seconds(f: () => void): number {
  const t = process.hrtime.bigint()
  f()
  return Number(process.hrtime.bigint() - t) / 1e9
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'lading-bench-layer-'))
try {
  const data = path.join(work, 'data')
  fs.mkdirSync(data)
  const bytes = makeData(data)
  const mib = bytes / 1024 / 1024

  const bundle = path.join(work, 'bundle')
  execFileSync(
    path.join(repo, 'node_modules', '.bin', 'ncc'),
    ['build', path.join(repo, 'bench', 'layer-memory-child.ts'), '-o', bundle, '-t', '-q'],
    { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] }
  )

  // Timed as a whole process, start-up included, as tar | gzip is.
  const started = process.hrtime.bigint()
  const child = spawnSync(
    process.execPath,
    [path.join(bundle, 'index.js'), data, path.join(work, 'layout'), 'gzip'],
    { encoding: 'utf8' }
  )
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6
  if (child.status !== 0) throw new Error(`layer build failed: ${child.stderr}`)
  const result = JSON.parse(child.stdout) as {
    ms: number
    maxRssKiB: number
    descriptor: { size: number }
  }
  const ladingS = wallMs / 1000
  const peakMiB = result.maxRssKiB / 1024

  const tarS = seconds(() =>
    execFileSync('sh', ['-c', 'tar -cf - -C "$1" . | gzip -6 > /dev/null', 'sh', data])
  )

  const failed = peakMiB >= LIMIT_MIB
  console.log(`data:            ${mib.toFixed(0)} MiB in ${bigFiles + smallFiles} files`)
  console.log(
    `lading gzip-6:   ${ladingS.toFixed(2)} s, ${(mib / ladingS).toFixed(1)} MiB/s, ` +
      `layer ${(result.descriptor.size / 1024 / 1024).toFixed(0)} MiB`
  )
  console.log(`tar | gzip -6:   ${tarS.toFixed(2)} s, ${(mib / tarS).toFixed(1)} MiB/s`)
  console.log(`time ratio:      ${(ladingS / tarS).toFixed(2)} (lading / tar|gzip; < 1 is faster)`)
  console.log(`peak RSS:        ${peakMiB.toFixed(1)} MiB (limit ${LIMIT_MIB} MiB)`)
  console.log(failed ? 'FAIL' : 'PASS')
  if (failed) process.exitCode = 1
} finally {
  fs.rmSync(work, { recursive: true, force: true })
}
