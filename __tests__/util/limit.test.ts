import { describe, expect, it } from '@jest/globals'
import { mapLimited } from '../../src/util/limit.js'

describe('side by side, in order', () => {
  it('mapLimited keeps the order of its items and never runs more than its limit', async () => {
    let running = 0
    let most = 0
    const got = await mapLimited([30, 5, 20, 1, 10, 2], 3, async (ms, i) => {
      running++
      most = Math.max(most, running)
      await new Promise(r => setTimeout(r, ms))
      running--
      return `${i}:${ms}`
    })
    expect(got).toEqual(['0:30', '1:5', '2:20', '3:1', '4:10', '5:2'])
    expect(most).toBe(3)
  })

  it('mapLimited starts nothing after a failure and throws the first one', async () => {
    const started: number[] = []
    await expect(
      mapLimited([1, 2, 3, 4, 5], 2, async n => {
        started.push(n)
        await new Promise(r => setTimeout(r, 5))
        if (n === 2) throw new Error(`item ${n} failed`)
        return n
      })
    ).rejects.toThrow('item 2 failed')
    expect(started.length).toBeLessThan(5)
  })
})
