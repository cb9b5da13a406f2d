import { describe, expect, it } from '@jest/globals'
import { MemoryRelief, RELIEF_BYTES } from '../../src/util/memory.js'

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

  it('asks for no collection while memory is below the mark', () => {
    const high = new MemoryRelief(64 * 1024 ** 3)
    high.moved(RELIEF_BYTES * 4)
    expect(high.collections).toBe(0)
    const low = new MemoryRelief(0)
    low.moved(RELIEF_BYTES)
    expect(low.collections).toBe(1)
  })
})
