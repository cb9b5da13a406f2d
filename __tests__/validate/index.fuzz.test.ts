/**
 * Corrupts a valid layout at random (seeded, so a failure replays): a byte of a blob, or a JSON
 * field removed or retyped and the document re-linked under its new digest. Every run must end
 * in a report, never an exception, within a bounded time.
 */
import { describe, it, expect } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { validateLayout } from '../../src/validate/index.js'
import { writeLayout, sha256, type Json } from '../helpers/validate-fixtures.js'
import { trackedTempDirs } from '../helpers/transports-fixtures.js'

const SEED = Number(process.env.LADING_FUZZ_SEED ?? 20240611)
const ITERATIONS = 200

/** mulberry32: small, seedable, good enough to pick mutations. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const newDir = trackedTempDirs('lading-validate-')

type Path = Array<string | number>

function paths(v: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  if (v !== null && typeof v === 'object')
    for (const [k, child] of Object.entries(v)) {
      const p = [...prefix, Array.isArray(v) ? Number(k) : k]
      out.push(p)
      paths(child, p, out)
    }
  return out
}

const RETYPES: unknown[] = [null, 0, -1, 1.5, '', 'x', true, [], {}, [1, 'a'], { a: 1 }, 2 ** 60]

function mutateJson(doc: Json, rnd: () => number): string {
  const all = paths(doc)
  const p = all[Math.floor(rnd() * all.length)]
  const parent = p.slice(0, -1).reduce<Json>((o, k) => o[k as string], doc)
  const key = p[p.length - 1]
  if (rnd() < 0.4) {
    if (Array.isArray(parent)) parent.splice(key as number, 1)
    else delete parent[key as string]
    return `removed ${p.join('.')}`
  }
  const value = RETYPES[Math.floor(rnd() * RETYPES.length)]
  parent[key as string] = value
  return `set ${p.join('.')} = ${JSON.stringify(value)}`
}

describe('validator under random corruption', () => {
  it(`ends every one of ${ITERATIONS} corrupted runs in a report (seed ${SEED})`, async () => {
    const rnd = prng(SEED)
    const base = await newDir()
    const built = await writeLayout(base, {
      layers: [{}, { compression: 'zstd' }, { compression: 'none' }]
    })
    const started = Date.now()
    for (let i = 0; i < ITERATIONS; i++) {
      const dir = path.join(base, `..`, `${path.basename(base)}-${i}`)
      newDir.track(dir)
      await fs.cp(base, dir, { recursive: true })
      const blob = (d: string): string => path.join(dir, 'blobs', 'sha256', d.slice(7))
      let what: string
      let mustFail = false
      const r = rnd()
      if (r < 0.35) {
        const files = [...built.layers, built.config, built.manifest]
        const target = files[Math.floor(rnd() * files.length)]
        const data = await fs.readFile(blob(target))
        const at = Math.floor(rnd() * data.length)
        data[at] ^= 1 + Math.floor(rnd() * 255)
        await fs.writeFile(blob(target), data)
        what = `byte ${at} of ${target}`
        mustFail = true
      } else {
        // Re-link the changed document under its new digest so the change reaches deeper rules.
        const index = JSON.parse(await fs.readFile(path.join(dir, 'index.json'), 'utf8'))
        const manifest = JSON.parse(await fs.readFile(blob(built.manifest), 'utf8'))
        const config = JSON.parse(await fs.readFile(blob(built.config), 'utf8'))
        const which = rnd()
        const put = async (doc: unknown): Promise<{ digest: string; size: number }> => {
          const bytes = Buffer.from(JSON.stringify(doc))
          const digest = sha256(bytes)
          await fs.writeFile(blob(digest), bytes)
          return { digest, size: bytes.length }
        }
        if (which < 0.33) what = 'index.json: ' + mutateJson(index, rnd)
        else if (which < 0.66) {
          what = 'manifest: ' + mutateJson(manifest, rnd)
          Object.assign(index.manifests[0], await put(manifest))
        } else {
          what = 'config: ' + mutateJson(config, rnd)
          Object.assign(manifest.config, await put(config))
          Object.assign(index.manifests[0], await put(manifest))
        }
        await fs.writeFile(path.join(dir, 'index.json'), JSON.stringify(index))
      }
      let report
      try {
        report = await validateLayout(dir)
      } catch (err) {
        throw new Error(`iteration ${i} (${what}) threw: ${(err as Error).stack}`, { cause: err })
      }
      expect(Array.isArray(report.findings)).toBe(true)
      expect(report.errors + report.warnings).toBe(report.findings.length)
      for (const f of report.findings) expect(typeof f.message).toBe('string')
      if (mustFail && report.valid) throw new Error(`iteration ${i} (${what}) was reported valid`)
      await fs.rm(dir, { recursive: true, force: true })
    }
    expect(Date.now() - started).toBeLessThan(60000)
  }, 90000)
})
