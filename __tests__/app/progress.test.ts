/**
 * Progress and phases (src/util/progress.ts, src/app/phases.ts): throttled reports on an injected
 * clock, log groups with durations, and progress told through the build's and the push's
 * callbacks.
 */
import { describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { newRunContext } from '../../src/app/context.js'
import { phase } from '../../src/app/phases.js'
import { humanDuration, progressLine, throttledProgress } from '../../src/util/progress.js'
import { Layout } from '../../src/transports/layout.js'
import { buildLayer, parseLayerSpec } from '../../src/build/layer/index.js'
import { layerChecks } from '../../src/validate/layer/checks.js'
import { summaryMarkdown } from '../../src/action/summary.js'
import { makeReport } from '../../src/validate/index.js'
import { trackedTempDirs } from '../helpers/transports-fixtures.js'

const tmp = trackedTempDirs('lading-progress-')

/** A clock the test moves by hand. */
function manualClock() {
  let t = 1000
  return { now: () => t, advance: (ms: number) => (t += ms) }
}

describe('throttledProgress', () => {
  it('says nothing for short work, then reports done, total and rate every interval', () => {
    const clock = manualClock()
    const lines: string[] = []
    const start = throttledProgress(l => lines.push(l), {
      now: clock.now,
      quietMs: 3000,
      everyMs: 2000
    })
    const task = start('layer dist:/app', 8 * 1024 * 1024)
    task.advance(1024 * 1024)
    clock.advance(2000)
    task.advance(1024 * 1024)
    expect(lines).toEqual([])
    clock.advance(2000) // 4 s in, past the quiet time
    task.advance(2 * 1024 * 1024)
    expect(lines).toEqual(['layer dist:/app: 4.0 MiB of 8.0 MiB (50%), 1.0 MiB/s'])
    clock.advance(1000) // within the interval: nothing
    task.advance(1024 * 1024)
    expect(lines).toHaveLength(1)
    clock.advance(1000)
    task.advance(1024 * 1024)
    expect(lines[1]).toBe('layer dist:/app: 6.0 MiB of 8.0 MiB (75%), 1.0 MiB/s')
  })

  it('words work of unknown size', () => {
    expect(progressLine('layer x', 3 * 1024 * 1024 * 1024, undefined, 10_000)).toBe(
      'layer x: 3.0 GiB so far, 307.2 MiB/s'
    )
    expect(humanDuration(850)).toBe('850 ms')
    expect(humanDuration(12_340)).toBe('12.3 s')
    expect(humanDuration(125_000)).toBe('2 min 05 s')
  })
})

describe('phase', () => {
  it('runs work in a log group closed by its duration, and records it', async () => {
    const clock = manualClock()
    const log: string[] = []
    const ctx = newRunContext(
      {
        info: m => log.push(m),
        warning: m => log.push(`warning ${m}`),
        startGroup: n => log.push(`[group ${n}]`),
        endGroup: () => log.push('[end]')
      },
      undefined,
      { clock: { now: clock.now } }
    )
    const v = await phase(ctx, 'build layers', async () => {
      clock.advance(1500)
      return 42
    })
    expect(v).toBe(42)
    await expect(
      phase(ctx, 'push', async () => {
        clock.advance(200)
        throw new Error('refused')
      })
    ).rejects.toThrow('refused')
    expect(log).toEqual([
      '[group build layers]',
      'build layers: done in 1.5 s',
      '[end]',
      '[group push]',
      'push: stopped in 200 ms',
      '[end]'
    ])
    expect(ctx.timings).toEqual([
      { name: 'build layers', ms: 1500 },
      { name: 'push', ms: 200 }
    ])
    const md = summaryMarkdown(undefined, makeReport([], 'error'), ctx.timings)
    expect(md).toContain('| build layers | 1.5 s |')
    expect(md).toContain('| **total** | **1.7 s** |')
  })

  it('a logger without groups gets a header line', async () => {
    const log: string[] = []
    const ctx = newRunContext({ info: m => log.push(m), warning: () => {} })
    await phase(ctx, 'validate', async () => undefined)
    expect(log[0]).toBe('== validate')
    expect(log[1]).toMatch(/^validate: done in \d+ ms$/)
  })
})

describe('layer progress', () => {
  it('a long layer build reports through the callback it is given', async () => {
    const dir = await tmp()
    const file = path.join(dir, 'big.bin')
    await fs.writeFile(file, Buffer.alloc(3 * 1024 * 1024, 7))
    const store = new Layout(path.join(dir, 'store'))
    await store.init()
    const clock = manualClock()
    const lines: string[] = []
    // Each read moves the clock a second on: a slow disk.
    const progress = throttledProgress(l => lines.push(l), {
      now: () => clock.advance(1000),
      quietMs: 1500,
      everyMs: 1500
    })
    await buildLayer(parseLayerSpec(`${file}:/big.bin`), store, {
      compression: 'gzip',
      checks: layerChecks,
      mtime: new Date(0),
      progress
    })
    expect(lines.length).toBeGreaterThan(0)
    expect(lines[0]).toMatch(
      new RegExp(
        `^layer ${file}:/big.bin: [\\d.]+ (KiB|MiB) of 3.0 MiB \\(\\d+%\\), [\\d.]+ (B|KiB|MiB)/s$`
      )
    )
  })
})
