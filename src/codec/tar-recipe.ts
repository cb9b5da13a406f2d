/**
 * A stretch of a tar as a recipe: what another thread needs to make those bytes itself. The main
 * thread writes the tar with placeholder bodies (the build's tar writer, deferBody) straight into
 * the recipe's buffer, where they will stay (headers, padding); each body becomes which file and
 * range to read into its place. Made by the diff pass's hashing thread and by the libdeflate
 * threads of a build, which hand the buffer back to be filled again: buffers that move between
 * threads are used again, never left for another thread's collector to free.
 */

/**
 * `block`'s first bytes are the stretch of tar, with the bytes of the files still to be read in:
 * five numbers a file range in `files` (a Float64Array's memory), OFFSET, I, AT, LENGTH, LAST
 * (LENGTH bytes at AT of the file `paths[I]`, read to OFFSET of the block; LAST 1 when they end
 * the file). Flat numbers and one string array: cheap to send, no object a piece.
 */
export interface TarRecipe {
  block: ArrayBuffer
  files: ArrayBuffer
  paths: string[]
}

/**
 * Reads a recipe's files into its block, with `reader`; undefined once they are all there, else
 * why one could not be read. Runs on worker threads as source text: names nothing outside itself.
 */
export function fillRecipe(recipe: TarRecipe, reader: RangeReader): RecipeFailure | undefined {
  const target = new Uint8Array(recipe.block)
  const files = new Float64Array(recipe.files)
  let path = ''
  try {
    for (let i = 0; i < files.length; i += 5) {
      path = recipe.paths[files[i + 1]]
      if (!reader.read(path, files[i + 2], files[i + 3], files[i + 4] === 1, target, files[i]))
        return { path, changed: true, message: 'changed' }
    }
    return undefined
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    // ESPIPE: the file is a FIFO now, which cannot be read at a position.
    if (e.code === 'ESPIPE') return { path, changed: true, message: 'changed' }
    return { path, changed: false, code: e.code, message: String(e.message) }
  } finally {
    reader.close()
  }
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
   * had bytes past its end. For a `last` range `target` needs one byte after the range, which the
   * read may use and gives back as it was.
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
  const read: RangeReader['read'] = (path, at, length, last, target, offset) => {
    if (open !== path) {
      close()
      // Non-blocking: a file swapped for a FIFO since its stat would otherwise hang the open
      // until a writer came; this way its read fails at once (fillRecipe: changed).
      fd = fs.openSync(path, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0))
      open = path
    }
    let pos = at
    let done = 0
    // Whether the file is known to end where its size said: a read that asked for one byte more
    // than was left got exactly what was left. Else one more read tells it. The byte after the
    // range is the tar's next one, kept aside meanwhile.
    let ended = false
    const after = last ? target[offset + length] : 0
    try {
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
    } finally {
      if (last) target[offset + length] = after
    }
  }
  return { read, close }
}

/** A recipe's file could not be read; the build names the file and the layer. */
export class RecipeReadError extends Error {
  constructor(readonly failure: RecipeFailure) {
    super(failure.message)
  }
}
