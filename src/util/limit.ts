/**
 * `fn` over `items`, at most `limit` at once, results in the order of `items`. After a failure no
 * new item starts; the ones under way finish, then the first failure is thrown.
 */
export async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>
): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  let failed: { err: unknown } | undefined
  const worker = async (): Promise<void> => {
    while (next < items.length && failed === undefined) {
      const i = next++
      try {
        out[i] = await fn(items[i], i)
      } catch (err) {
        failed ??= { err }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker))
  if (failed) throw failed.err
  return out
}

/**
 * At most `limit` tasks at once, for work that arrives over time (mapLimited takes a list known
 * up front); the others wait their turn in the order they came.
 */
export class Slots {
  private free: number
  private readonly waiting: Array<() => void> = []

  constructor(limit: number) {
    this.free = Math.max(1, limit)
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--
    else await new Promise<void>(resolve => this.waiting.push(resolve))
    try {
      return await fn()
    } finally {
      const next = this.waiting.shift()
      if (next) next()
      else this.free++
    }
  }
}
