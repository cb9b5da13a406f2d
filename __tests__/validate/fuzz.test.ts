/**
 * The validator's parsers of untrusted input under random input, on a fixed seed so that a
 * failure replays (FUZZ_SEED=n to try another; FUZZ_RUNS=n, as `npm run fuzz` sets it, for a
 * longer run): documents of any shape, arbitrary bytes as layers, tar streams made of arbitrary
 * entries, headers with bytes changed, and whole layouts corrupted at random. Every run must end
 * in findings of catalogued rules, never a throw or an internal error, and in time: each scan
 * races a deadline far above its work, and the path checker's counted work stays within its
 * bound for the input's size.
 */
import { describe, it, expect } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import * as zlib from 'node:zlib'
import { Readable } from 'node:stream'
import fc from 'fast-check'
import type tar from 'tar-stream'
import {
  rules,
  scanBlob,
  validateDocument,
  validateLayout,
  type DocumentKind,
  type Finding
} from '../../src/validate/index.js'
import { TarPathChecker } from '../../src/validate/layer/paths.js'
import { writeLayout, sha256, type Json } from '../validate-fixtures.js'
import { trackedTempDirs } from '../transports-fixtures.js'
import { entryBlocks, type GenEntry } from './tar-gen.js'

const SEED = Number(process.env.FUZZ_SEED ?? 20240611)
const RUNS = Number(process.env.FUZZ_RUNS ?? 100)
/** How much longer than the default run this one is: deadlines grow with it. */
const SCALE = Math.max(1, RUNS / 100)
const ITERATIONS = Math.round(0.6 * RUNS)
const params = { seed: SEED, numRuns: RUNS, endOnFailure: true }

const catalogued = new Set(rules.map(r => r.id))

/** Findings only: catalogued rules, string messages, and no "could not be checked" of a bug. */
function expectFindings(findings: Finding[]): void {
  for (const f of findings) {
    expect(catalogued.has(f.rule)).toBe(true)
    expect(typeof f.message).toBe('string')
    expect(f.message).not.toMatch(/^could not be checked/)
  }
}

/** Rejects when `p` takes longer than `ms`: a hang is a failure, not a slow test. */
async function within<T>(ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not done within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([p, late])
  } finally {
    clearTimeout(timer)
  }
}

const KINDS: DocumentKind[] = [
  'manifest',
  'index',
  'config',
  'descriptor',
  'layout',
  'content-descriptor'
]

/** Values the documents' fields are tried with: right and wrong types, odd strings. */
const fieldValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(
    'sha256:' + 'a'.repeat(64),
    'sha512:' + 'b'.repeat(128),
    'application/vnd.oci.image.layer.v1.tar+gzip',
    'application/vnd.oci.image.manifest.v1+json',
    '2024-02-30T00:00:00Z',
    '__proto__',
    -0,
    2 ** 53 + 2,
    1e308
  )
)
const FIELDS = [
  'schemaVersion',
  'mediaType',
  'artifactType',
  'config',
  'layers',
  'manifests',
  'subject',
  'annotations',
  'digest',
  'size',
  'urls',
  'platform',
  'architecture',
  'os',
  'rootfs',
  'history',
  'created',
  'imageLayoutVersion',
  '__proto__',
  'constructor'
]
/** Objects with the documents' own field names, nested, holding anything. */
const documentLike: fc.Arbitrary<unknown> = fc.letrec(tie => ({
  doc: fc.dictionary(fc.constantFrom(...FIELDS), fc.oneof(fieldValue, tie('doc'), tie('list')), {
    maxKeys: 8
  }),
  list: fc.array(fc.oneof(fieldValue, tie('doc')), { maxLength: 4 })
})).doc

const tarName = fc
  .array(
    fc.oneof(
      fc.constantFrom('..', '.', '', 'a', 'b', 'etc', '.wh.a', '.wh..wh..opq', '.wh.', '.wh..wh.x'),
      fc.string({ maxLength: 8 }),
      fc.constantFrom('n'.repeat(256), 'p/'.repeat(2100))
    ),
    { maxLength: 8 }
  )
  .map(parts => parts.join('/'))
const tarEntry: fc.Arbitrary<GenEntry> = fc.record({
  name: fc.oneof(tarName, fc.constant('/abs/path')),
  type: fc.constantFrom('file', 'directory', 'symlink', 'link'),
  linkname: fc.oneof(tarName, fc.constantFrom('/', '/etc', '../..', 'a/../..'))
})

const scan = (bytes: Buffer, compression: 'none' | 'gzip' | 'zstd'): Promise<Finding[]> =>
  within(
    10000 + bytes.length / 100,
    scanBlob(Readable.from([bytes]), {
      algorithm: 'sha256',
      compression,
      checkTar: true,
      location: 'layer'
    })
  ).then(r => r.findings)

function tarOfEntries(entries: GenEntry[]): Buffer {
  return Buffer.concat([...entries.flatMap(e => entryBlocks(e)), Buffer.alloc(1024)])
}

describe('documents of any shape', () => {
  it('become findings, never a throw, from any value', () => {
    fc.assert(
      fc.property(fc.constantFrom(...KINDS), fc.oneof(fc.anything(), documentLike), (kind, v) => {
        expectFindings(validateDocument(kind, v))
      }),
      params
    )
  })

  it('become findings, never a throw, from any bytes or text', () => {
    const text = fc.oneof(
      fc.json({ maxDepth: 4 }),
      documentLike.map(d => JSON.stringify(d) ?? 'null'),
      fc.string({ unit: 'binary', maxLength: 200 })
    )
    fc.assert(
      fc.property(
        fc.constantFrom(...KINDS),
        fc.oneof(
          text,
          text.map(t => Buffer.from(t)),
          fc.uint8Array({ maxLength: 300 }).map(b => Buffer.from(b))
        ),
        (kind, v) => {
          expectFindings(validateDocument(kind, v))
        }
      ),
      params
    )
  })
})

describe('layers of any bytes', () => {
  it('scan arbitrary bytes, declared with any compression, to findings', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 4096 }),
        fc.constantFrom('none', 'gzip', 'zstd') as fc.Arbitrary<'none' | 'gzip' | 'zstd'>,
        fc.boolean(),
        async (bytes, compression, gzipped) => {
          const raw = Buffer.from(bytes)
          expectFindings(await scan(gzipped ? zlib.gzipSync(raw) : raw, compression))
        }
      ),
      params
    )
  })

  it('scan tars of arbitrary entries to findings, with the path work bounded', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(tarEntry, { maxLength: 30 }), async entries => {
        const t = tarOfEntries(entries)
        expectFindings(await scan(t, 'none'))
        const checker = new TarPathChecker('layer', () => {})
        for (const e of entries)
          checker.entry({ name: e.name, type: e.type, linkname: e.linkname } as tar.Header)
        checker.finish()
        expect(checker.steps).toBeLessThanOrEqual(4 * t.length + 2 ** 20)
      }),
      params
    )
  })

  it('scan tars whose header bytes were changed to findings', async () => {
    const base = tarOfEntries([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/hello' },
      { name: 'p/'.repeat(60) + 'long-enough-for-pax' },
      { name: 'lnk', type: 'symlink', linkname: '../x' },
      { name: 'hard', type: 'link', linkname: 'etc/hello' }
    ])
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 12
        }),
        fc.constantFrom('none', 'gzip') as fc.Arbitrary<'none' | 'gzip'>,
        async (changes, compression) => {
          const t = Buffer.from(base)
          for (const [at, byte] of changes) t[at] = byte
          expectFindings(await scan(compression === 'gzip' ? zlib.gzipSync(t) : t, compression))
        }
      ),
      params
    )
  })
})

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

describe('the validator under random corruption of a layout', () => {
  it(
    `ends every one of ${ITERATIONS} corrupted runs in a report (seed ${SEED})`,
    async () => {
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
      expect(Date.now() - started).toBeLessThan(60000 * SCALE)
    },
    90000 * SCALE
  )
})
