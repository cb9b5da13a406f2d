/**
 * libdeflate's level 1 is patched for speed (scripts/libdeflate-fast.patch: matches of 5 bytes,
 * only some of a match's positions hashed, the last offset tried again, bytes stepped over after
 * misses): any mix of text, noise, zeros and copies from any distance must come back byte for
 * byte, through zlib and through gzip -dc. A few runs in `npm test`; `npm run fuzz` runs more
 * (FUZZ_RUNS) on a new seed (FUZZ_SEED, printed, to replay a failure).
 */
import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import * as zlib from 'node:zlib'
import { DeflatePool } from '../../src/codec/deflate-wasm.js'
import { GZIP_BLOCK } from '../../src/codec/gzip-members.js'

const SEED = Number(process.env.FUZZ_SEED ?? 20261202)
const RUNS = Number(process.env.FUZZ_RUNS ?? 20)

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

/** A piece of the input: bytes of a kind, or a copy of what came `distance` bytes before. */
const piece = fc.oneof(
  fc.record({ kind: fc.constant('noise' as const), seed: fc.integer(), length: fc.nat(40_000) }),
  fc.record({ kind: fc.constant('text' as const), seed: fc.nat(50), length: fc.nat(40_000) }),
  fc.record({ kind: fc.constant('zeros' as const), length: fc.nat(70_000) }),
  fc.record({
    kind: fc.constant('copy' as const),
    distance: fc.integer({ min: 1, max: 40_000 }),
    length: fc.nat(3_000)
  })
)
type Piece = typeof piece extends fc.Arbitrary<infer P> ? P : never

function build(pieces: Piece[]): Buffer {
  const out: number[] = []
  for (const p of pieces) {
    if (p.kind === 'noise') {
      let x = p.seed | 1
      for (let i = 0; i < p.length; i++) {
        x ^= x << 13
        x ^= x >>> 17
        x ^= x << 5
        out.push(x & 0xff)
      }
    } else if (p.kind === 'text') {
      const words = ['layer ', 'blob ', 'digest ', 'tar\n', 'config ', `w${p.seed} `]
      for (let i = 0; i < p.length;) {
        const w = words[(i * 7 + p.seed) % words.length]
        for (let k = 0; k < w.length && i < p.length; k++, i++) out.push(w.charCodeAt(k))
      }
    } else if (p.kind === 'zeros') for (let i = 0; i < p.length; i++) out.push(0)
    else if (out.length >= p.distance)
      for (let i = 0; i < p.length; i++) out.push(out[out.length - p.distance])
  }
  return Buffer.from(out)
}

describe('libdeflate level 1 on any mix of data (property)', () => {
  it(`gives back every byte (${RUNS} runs, seed ${SEED})`, async () => {
    const pool = new DeflatePool(1, 1)
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(piece, { maxLength: 40 }), async pieces => {
          const data = build(pieces).subarray(0, GZIP_BLOCK)
          const gz = await pool.only(data)
          expect(sha(zlib.gunzipSync(gz))).toBe(sha(data))
          const viaTool = execFileSync('gzip', ['-dc'], { input: gz, maxBuffer: 4 << 20 })
          expect(sha(viaTool)).toBe(sha(data))
        }),
        { seed: SEED, numRuns: RUNS }
      )
    } finally {
      await pool.close()
    }
  })
})
