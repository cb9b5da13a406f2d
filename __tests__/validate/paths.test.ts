/**
 * The layer path checker on hostile layers: work proportional to the headers (counted in steps,
 * never timed), paths and names no runtime can extract reported, and hardlinks that reach out
 * of the root through a symlink of the same layer reported as errors.
 */
import { describe, it, expect } from '@jest/globals'
import type tar from 'tar-stream'
import { scanBlob, type Finding } from '../../src/validate/index.js'
import { TarPathChecker, MAX_NAME_BYTES, MAX_PATH_BYTES } from '../../src/validate/layer/paths.js'
import { writeLayout, tmpDir } from '../validate-fixtures.js'
import { validateLayout } from '../../src/validate/index.js'
import { tarStream, tarBytes, repeat, type GenEntry } from './tar-gen.js'

/** Feeds headers to a checker, as a layer scan does, and gives what it found and its work. */
function check(entries: Iterable<GenEntry>): { findings: Finding[]; steps: number; bytes: number } {
  const findings: Finding[] = []
  const c = new TarPathChecker('layer', f => findings.push(f))
  let bytes = 0
  for (const e of entries) {
    bytes += 512 + Buffer.byteLength(e.name) + Buffer.byteLength(e.linkname ?? '')
    c.entry({ name: e.name, type: e.type ?? 'file', linkname: e.linkname } as tar.Header)
  }
  c.finish()
  return { findings, steps: c.steps, bytes }
}

const rules = (f: Finding[]): string[] => [...new Set(f.map(x => x.rule))]

const DEEP = 'a/'.repeat(80000) + 'x'
const LONG_NAMES = (): Generator<GenEntry> =>
  repeat(4000, i => ({ name: `${i}-` + 'n'.repeat(64 * 1024) }))

describe('work linear in the input', () => {
  it('refuses a pax path of 80,000 names, in steps proportional to its length', () => {
    const r = check([{ name: DEEP }])
    expect(r.findings.map(f => f.rule)).toEqual(['layer-path-too-long'])
    expect(r.steps).toBeLessThanOrEqual(r.bytes)
  })

  it('refuses 4,000 names of 64 KiB each, in steps proportional to their length', () => {
    const r = check(LONG_NAMES())
    expect(r.findings).toHaveLength(4000)
    expect(rules(r.findings)).toEqual(['layer-path-too-long'])
    // The location cuts a name no runtime can extract, so the report stays small.
    expect(r.findings[0].location.length).toBeLessThan(200)
    expect(r.steps).toBeLessThanOrEqual(r.bytes)
  })

  it('resolves 1,000 paths of 2,000 names below a symlink in steps proportional to them', () => {
    const deep = 'd/'.repeat(2000)
    const r = check([
      { name: 'real/', type: 'directory' },
      { name: 'link', type: 'symlink', linkname: 'real' },
      ...repeat(1000, i => ({ name: `link/${deep}f${i}` }))
    ])
    expect(r.findings).toEqual([])
    // Every prefix of every path looked up anew would be 2,000 × 2,000 steps per path.
    expect(r.steps).toBeLessThanOrEqual(2 * r.bytes)
  })

  it('stops resolving a chain of long symlinks once it costs more than the layer allows', () => {
    const hop = './'.repeat(2040)
    const r = check([
      ...repeat(40, i => ({
        name: `s${i}`,
        type: 'symlink' as const,
        linkname: i < 39 ? `${hop}s${i + 1}` : 'd'
      })),
      ...repeat(60, i => ({ name: `s0/f${i}` }))
    ])
    expect(r.findings.map(f => f.rule)).toEqual(['layer-path-unchecked'])
    expect(r.steps).toBeLessThanOrEqual(4 * r.bytes + 2 ** 20 + 100_000)
  })

  it('scans the 80,000-name path and the 4,000 long names through the tar reader', async () => {
    const r = await scanBlob(tarStream([{ name: DEEP }, ...LONG_NAMES()]), {
      algorithm: 'sha256',
      compression: 'none',
      checkTar: true,
      location: 'layer'
    })
    expect(r.tarError).toBeUndefined()
    expect(rules(r.findings)).toEqual(['layer-path-too-long', 'layer-tar'])
    expect(r.findings.at(-1)?.message).toMatch(/^3951 more findings/)
  }, 60000)
})

describe('lengths no runtime can extract', () => {
  it('reports a path over PATH_MAX and a name over NAME_MAX, and accepts them at the limit', () => {
    const atPath = 'p/'.repeat(MAX_PATH_BYTES / 2 - 1) + 'pp'
    const atName = 'n'.repeat(MAX_NAME_BYTES)
    expect(Buffer.byteLength(atPath)).toBe(MAX_PATH_BYTES)
    expect(check([{ name: atPath }, { name: atName }]).findings).toEqual([])
    const r = check([
      { name: atPath + 'p' },
      { name: atName + 'n' },
      // three bytes a character: 86 of them are 258 bytes
      { name: 'é'.repeat(43) + '€'.repeat(86) },
      { name: 'l', type: 'symlink', linkname: 'x'.repeat(MAX_PATH_BYTES + 1) },
      { name: 'h', type: 'link', linkname: atName + 'n' }
    ])
    expect(r.findings.map(f => f.rule)).toEqual([
      'layer-path-too-long',
      'layer-name-too-long',
      'layer-name-too-long',
      'layer-path-too-long',
      'layer-name-too-long'
    ])
    expect(r.findings[0].message).toMatch(/4097 bytes, more than Linux's PATH_MAX of 4096/)
  })

  it('fails a layout whose layer holds the 80,000-name path', async () => {
    const dir = await tmpDir()
    await writeLayout(dir, { layers: [{ tar: await tarBytes([{ name: DEEP }]) }] })
    const r = await validateLayout(dir)
    expect(r.valid).toBe(false)
    expect(r.findings.map(f => f.rule)).toEqual(['layer-path-too-long'])
  })
})

describe('hardlinks through symlinks', () => {
  it('fails a hardlink whose target goes through a symlink that leaves the root', () => {
    const r = check([
      { name: 'up', type: 'symlink', linkname: '../../..' },
      { name: 'shadow', type: 'link', linkname: 'up/etc/shadow' }
    ])
    expect(r.findings.map(f => [f.rule, f.severity])).toEqual([['layer-link-escapes', 'error']])
    expect(r.findings[0].message).toMatch(
      /goes through "up", a symlink in this layer to "..\/..\/.."/
    )
  })

  it('fails a hardlink to a symlink that leaves the root (Python links what it points at)', () => {
    const r = check([
      { name: 'pw', type: 'symlink', linkname: '../etc/passwd' },
      { name: 'mine', type: 'link', linkname: 'pw' }
    ])
    expect(r.findings.map(f => [f.rule, f.severity])).toEqual([['layer-link-escapes', 'error']])
  })

  it('accepts hardlinks through symlinks that stay inside the root', () => {
    const r = check([
      { name: 'usr/', type: 'directory' },
      { name: 'usr/bin/', type: 'directory' },
      { name: 'usr/bin/sh' },
      { name: 'bin', type: 'symlink', linkname: '/usr/bin' },
      { name: 'sh', type: 'symlink', linkname: 'usr/bin/sh' },
      { name: 'ash', type: 'link', linkname: 'sh' }
    ])
    expect(r.findings).toEqual([])
  })

  it('fails the layout, not only warns', async () => {
    const dir = await tmpDir()
    await writeLayout(dir, {
      layers: [
        {
          entries: [
            { name: 'up', type: 'symlink', linkname: '../../..' },
            { name: 'shadow', type: 'link', linkname: 'up/etc/shadow' }
          ]
        }
      ]
    })
    const r = await validateLayout(dir)
    expect(r.valid).toBe(false)
    expect(r.findings.map(f => f.rule)).toEqual(['layer-link-escapes'])
  })
})
