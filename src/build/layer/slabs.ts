/** Bytes of the slabs small files are read into. */
const SLAB_BYTES = 1024 * 1024

/** Requests above this share no slab: they would waste most of one. */
const LARGEST_SHARED = SLAB_BYTES / 8

/**
 * Hands out slices of 1 MiB slabs for small files' bytes: one allocation for many files instead of
 * one each, so that the collector has a few large Buffers to free rather than thousands of small
 * ones. A slab is freed once the tar has copied every slice of it. One pool serves one run (or
 * one build), so nothing of a run outlives it in module state.
 */
export class SlabPool {
  private slab = Buffer.allocUnsafe(0)
  private used = 0

  /** A Buffer of `n` bytes, uninitialised: the caller fills it. */
  take(n: number): Buffer {
    if (n > LARGEST_SHARED) return Buffer.allocUnsafe(n)
    if (this.used + n > this.slab.length) {
      this.slab = Buffer.allocUnsafe(SLAB_BYTES)
      this.used = 0
    }
    const slice = this.slab.subarray(this.used, this.used + n)
    // 8-byte aligned, as Node's own pool is.
    this.used += (n + 7) & ~7
    return slice
  }
}
