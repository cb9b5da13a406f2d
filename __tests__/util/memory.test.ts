import { describe, expect, it } from '@jest/globals'
import * as v8 from 'node:v8'
import * as vm from 'node:vm'
import { MemoryRelief, RELIEF_BYTES, RELIEF_GROWTH } from '../../src/util/memory.js'

describe('memory relief', () => {
  it('frees dead Buffers once enough bytes have moved while memory is high', async () => {
    const relief = new MemoryRelief(0)
    // A collection first, so that the Buffers below are the ones it frees.
    relief.moved(RELIEF_BYTES)
    await new Promise(r => setTimeout(r, 300))
    // 40 MiB of Buffers that die at once, under the 64 MB at which V8 would collect them itself.
    for (let i = 0; i < 40; i++) Buffer.alloc(1024 * 1024, i)
    const before = process.memoryUsage().arrayBuffers
    const asked = relief.collections
    relief.moved(RELIEF_BYTES - 1)
    expect(relief.collections).toBe(asked)
    relief.moved(1)
    expect(relief.collections).toBe(asked + 1)
    // The collection runs beside the work: give it a moment (bounded) to finish.
    let after = process.memoryUsage().arrayBuffers
    for (let i = 0; i < 50 && before - after <= 32 * 1024 * 1024; i++) {
      await new Promise(r => setTimeout(r, 20))
      after = process.memoryUsage().arrayBuffers
    }
    expect(before - after).toBeGreaterThan(32 * 1024 * 1024)
  })

  it('asks for another only once memory has grown since the last', () => {
    // The tests before left dead Buffers: collected now, so that no collection V8 starts by
    // itself in the middle of this one lowers resident memory under it.
    v8.setFlagsFromString('--expose-gc')
    ;(vm.runInNewContext('gc') as () => void)()
    const relief = new MemoryRelief(0, Infinity)
    relief.moved(RELIEF_BYTES)
    expect(relief.collections).toBe(1)
    // Nothing allocated between the looks: memory is level, and a collection would free nothing.
    for (let i = 0; i < 4; i++) relief.moved(RELIEF_BYTES)
    expect(relief.collections).toBe(1)
    // Memory touched and kept, more than any freed before (which a new Buffer may reuse): resident
    // size grows by more than RELIEF_GROWTH.
    const kept = Buffer.alloc(64 * 1024 * 1024, 1)
    expect(kept.length).toBeGreaterThan(16 * RELIEF_GROWTH)
    relief.moved(RELIEF_BYTES)
    expect(relief.collections).toBe(2)
    relief.moved(RELIEF_BYTES)
    expect(relief.collections).toBe(2)
    expect(kept[0]).toBe(1)
  })

  it('asks for one at every look above the high mark, grown or not', () => {
    const relief = new MemoryRelief(0, 0)
    for (let i = 1; i <= 4; i++) {
      relief.moved(RELIEF_BYTES)
      expect(relief.collections).toBe(i)
    }
  })

  it('asks for no collection while memory is below the mark', () => {
    const high = new MemoryRelief(64 * 1024 ** 3)
    high.moved(RELIEF_BYTES * 4)
    expect(high.collections).toBe(0)
    const low = new MemoryRelief(0)
    low.moved(RELIEF_BYTES)
    expect(low.collections).toBe(1)
  })
})
