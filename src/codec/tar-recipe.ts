/**
 * A stretch of a tar as a recipe: what another thread needs to make those bytes itself. The main
 * thread writes the tar with placeholder bodies (the build's tar writer, deferBody) and keeps the
 * bytes it wrote (headers, padding); each body becomes which file and range to read in its place.
 * Read by the diff pass's hashing thread and by the libdeflate threads of a build.
 */

/**
 * The pieces of a recipe in order, four numbers a piece in `pieces` (a Float64Array's memory):
 * either -1, FROM, TO, 0 (the bytes FROM..TO of `bytes`) or I, AT, LENGTH, LAST (LENGTH bytes at
 * AT of the file `paths[I]`, LAST 1 when they end it). Flat numbers and one string array: cheap to
 * send, no object a piece.
 */
export interface TarRecipe {
  bytes: ArrayBuffer
  pieces: ArrayBuffer
  paths: string[]
}

/** Why a recipe's file could not be read: it changed while read, or a call failed (code). */
export interface RecipeFailure {
  path: string
  changed: boolean
  code?: string
  message: string
}

/** Reads ranges of files with synchronous calls, keeping the last file open. */
export interface RangeReader {
  /**
   * Reads `length` bytes at `at` of `path` into `target` at `offset`, and answers whether the file
   * still matched its size: false when it ended early or, for the range that ends it (`last`),
   * had bytes past its end. For a `last` range `target` needs one byte of room after it.
   */
  read(
    path: string,
    at: number,
    length: number,
    last: boolean,
    target: Uint8Array,
    offset: number
  ): boolean
  /** Closes the file kept open; a thread calls it after each recipe, so no descriptor outlives it. */
  close(): void
}

/**
 * A RangeReader. It runs on worker threads, handed over as source text, so it names nothing
 * outside itself (only globals and `process.getBuiltinModule`).
 */
export function rangeReader(): RangeReader {
  const fs = process.getBuiltinModule('node:fs')
  let fd = -1
  let open = ''
  const close = () => {
    if (fd >= 0) fs.closeSync(fd)
    fd = -1
    open = ''
  }
  const read = (
    path: string,
    at: number,
    length: number,
    last: boolean,
    target: Uint8Array,
    offset: number
  ): boolean => {
    if (open !== path) {
      close()
      fd = fs.openSync(path, 'r')
      open = path
    }
    let pos = at
    let done = 0
    // Whether the file is known to end where its size said: a read that asked for one byte more
    // than was left got exactly what was left. Else one more read tells it.
    let ended = false
    while (done < length) {
      const left = length - done
      const want = last ? left + 1 : left
      const n = fs.readSync(fd, target, offset + done, want, pos)
      if (n === 0 || n > left) {
        close()
        return false
      }
      ended = last && n === left
      pos += n
      done += n
    }
    if (!last) return true
    const grew = !ended && fs.readSync(fd, target, offset + length, 1, pos) !== 0
    close()
    return !grew
  }
  return { read, close }
}

/** A recipe's file could not be read; the build names the file and the layer. */
export class RecipeReadError extends Error {
  constructor(readonly failure: RecipeFailure) {
    super(failure.message)
  }
}
