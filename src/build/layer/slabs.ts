/** Bytes of the slabs files are read into. */
export const SLAB_BYTES = 1024 * 1024

/** Requests above this share no slab: they would waste most of one. */
const LARGEST_SHARED = SLAB_BYTES / 8

/** Free slabs kept for reuse; more are left to the collector. */
const KEEP_FREE = 8

/** A slab, and how many of the slices taken from it are not yet given back. */
interface Slab {
  buf: Buffer
  out: number
}

/**
 * Hands out slices of 1 MiB slabs for the bytes of files: many small files share a slab, a large
 * file's reads take one each. A slab whose every slice has been given back (`release`, once the
 * tar has copied or hashed it) is used again, so that a build moves hundreds of megabytes through a
 * few slabs instead of leaving as many dead Buffers for the collector. A slice never given back
 * (a read that failed) only keeps its slab from being reused. One pool serves one run (or one
 * build), so nothing of a run outlives it in module state.
 */
export class SlabPool {
  private current: Slab | undefined
  private used = 0
  /**
   * The slabs with slices out, by their memory: what `release` looks a Buffer up by. Weak, so a
   * slab whose slices are never all given back is still collected once nothing reads it.
   */
  private readonly lent = new WeakMap<ArrayBufferLike, Slab>()
  private readonly free: Buffer[] = []

  /** A Buffer of `n` bytes, uninitialised: the caller fills it. */
  take(n: number): Buffer {
    if (n > SLAB_BYTES) return Buffer.allocUnsafe(n)
    if (n > LARGEST_SHARED) {
      const slab = this.lend()
      slab.out = 1
      return slab.buf.subarray(0, n)
    }
    if (!this.current || this.used + n > SLAB_BYTES) {
      this.retire()
      this.current = this.lend()
      this.used = 0
    }
    const slab = this.current
    const slice = slab.buf.subarray(this.used, this.used + n)
    slab.out++
    // 8-byte aligned, as Node's own pool is.
    this.used += (n + 7) & ~7
    return slice
  }

  /**
   * Gives back a Buffer that `take` handed out (or a part of one), once nothing will read it
   * again. Anything else is ignored, so a consumer may offer every Buffer it is done with.
   */
  release(chunk: Buffer): void {
    const slab = this.lent.get(chunk.buffer)
    if (!slab || slab.out === 0) return
    slab.out--
    if (slab.out === 0 && slab !== this.current) this.reuse(slab)
  }

  private lend(): Slab {
    const buf = this.free.pop() ?? Buffer.allocUnsafe(SLAB_BYTES)
    const slab = { buf, out: 0 }
    this.lent.set(buf.buffer, slab)
    return slab
  }

  /** Stops filling the current slab; reused at once when all its slices are back already. */
  private retire(): void {
    const slab = this.current
    this.current = undefined
    if (slab && slab.out === 0) this.reuse(slab)
  }

  private reuse(slab: Slab): void {
    this.lent.delete(slab.buf.buffer)
    if (this.free.length < KEEP_FREE) this.free.push(slab.buf)
  }
}
