/**
 * A tar written with deferred bodies (tar-writer's deferBody), cut into recipes of a fixed size
 * (codec/tar-recipe.ts): what a thread needs to make each stretch of the tar itself, reading the
 * files. The diff pass hashes its recipes on a thread (tree-hash.ts); a gzip build has each 1 MiB
 * recipe made and compressed by a libdeflate thread, while this thread walks the tree, writes the
 * headers and hashes.
 */
import type { MemberCompressor, RecipeBlock } from '../../codec/gzip-members.js'
import { RecipeReadError, type RecipeFailure, type TarRecipe } from '../../codec/tar-recipe.js'
import type { LadingError } from '../../util/errors.js'
import { changedWhileRead, fileSystemError, type LocatedInput } from './input-errors.js'
import { PLACEHOLDER } from './tar-writer.js'

/** A recipe and the bytes of tar it makes. */
export interface SizedRecipe {
  recipe: TarRecipe
  length: number
}

/**
 * The pieces of a tar fed in order, cut every `size` bytes of tar into recipes. Each recipe's
 * block is a buffer `buffer` gives (of at least size + 1 bytes: a file's last read asks for one
 * byte more), into which the bytes written are copied where they go.
 */
export class RecipeCutter {
  private readonly bodies: Array<{ abs: string; size: number; done: number }> = []
  private block: Uint8Array | undefined
  private files: number[] = []
  private paths: string[] = []
  private filled = 0
  /** Recipes cut and not yet taken, in order. */
  readonly ready: SizedRecipe[] = []

  constructor(
    private readonly size: number,
    private readonly buffer: () => ArrayBuffer
  ) {}

  /** A file body the tar will hold next (in the order of deferBody). */
  deferred(abs: string, size: number): void {
    this.bodies.push({ abs, size, done: 0 })
  }

  /** The next chunk of the tar: bytes it holds, or a view of PLACEHOLDER standing for a body. */
  chunk(c: Buffer): void {
    const body = c.buffer === PLACEHOLDER.buffer
    for (let at = 0; at < c.length;) {
      const n = Math.min(c.length - at, this.size - this.filled)
      if (body) this.body(n)
      else this.current().set(c.subarray(at, at + n), this.filled)
      at += n
      this.filled += n
      if (this.filled === this.size) this.ready.push(this.take())
    }
  }

  /** The last recipe, shorter than `size`, once the whole tar has been fed; none if empty. */
  rest(): SizedRecipe | undefined {
    return this.filled > 0 ? this.take() : undefined
  }

  private current(): Uint8Array {
    if (!this.block) {
      const buffer = this.buffer()
      if (buffer.byteLength <= this.size) throw new Error('a recipe buffer too small for a block')
      this.block = new Uint8Array(buffer)
    }
    return this.block
  }

  private take(): SizedRecipe {
    const recipe: TarRecipe = {
      block: this.current().buffer as ArrayBuffer,
      files: new Float64Array(this.files).buffer,
      paths: this.paths
    }
    const length = this.filled
    this.block = undefined
    this.files = []
    this.paths = []
    this.filled = 0
    return { recipe, length }
  }

  private body(length: number): void {
    const b = this.bodies[0]
    if (!b) throw new Error('a file body came with no file to read it from')
    const last = b.done + length === b.size
    if (this.paths[this.paths.length - 1] !== b.abs) this.paths.push(b.abs)
    this.current()
    this.files.push(this.filled, this.paths.length - 1, b.done, length, last ? 1 : 0)
    b.done += length
    if (last) this.bodies.shift()
  }
}

/** The error for a recipe's file that could not be read, as a build reading it would give. */
export function recipeFailureError(input: LocatedInput, failure: RecipeFailure): LadingError {
  const { path, changed, code, message } = failure
  if (changed) return changedWhileRead(input, path)
  return fileSystemError(input, path, Object.assign(new Error(message), code ? { code } : {}))
}

/**
 * The blocks of a tar written with deferred bodies, in order, each made and compressed with its
 * member by `members`' threads from its recipe, at most `maxInFlight` at once. The tar is read
 * and cut as fast as the threads take recipes, not as the members are written: a member's way to
 * the file must not keep this thread from the next recipe. The caller gives each block back
 * (`done`) once it has read it and its member.
 */
export async function* recipeBlocks(
  input: LocatedInput,
  tar: AsyncIterable<Buffer>,
  cutter: RecipeCutter,
  members: MemberCompressor,
  /** Given each chunk of the tar once it is copied into a recipe. */
  copied: (chunk: Buffer) => void = () => {}
): AsyncGenerator<RecipeBlock> {
  if (!members.recipe || !members.onlyRecipe) throw new Error('the compressor takes no recipes')
  const recipe = members.recipe.bind(members)
  const onlyRecipe = members.onlyRecipe.bind(members)
  /** Blocks under way or made, not yet taken, in the tar's order. */
  const made: Array<Promise<RecipeBlock>> = []
  let ended = false
  // Whoever waits: the reader for room under the limit, the writer for a member or the end.
  let wake: (() => void) | undefined
  const signal = () => {
    const w = wake
    wake = undefined
    w?.()
  }
  const waitSignal = () => new Promise<void>(resolve => (wake = resolve))
  const submit = (r: Promise<RecipeBlock>) => {
    // Awaited in order later; this keeps an early failure from counting as unhandled meanwhile.
    r.catch(() => {})
    made.push(r)
    signal()
  }
  let stopped = false
  const reading = (async () => {
    try {
      let any = false
      for await (const chunk of tar) {
        cutter.chunk(chunk)
        copied(chunk)
        for (const r of cutter.ready.splice(0)) {
          // Read each time: a pool allows more once it has started more threads.
          while (made.length >= members.maxInFlight && !stopped) await waitSignal()
          if (stopped) return
          submit(recipe(r.recipe, r.length))
          any = true
        }
      }
      const rest = cutter.rest()
      if (!any && !rest) throw new Error('a tar of no bytes')
      if (rest) submit((any ? recipe : onlyRecipe)(rest.recipe, rest.length))
    } finally {
      ended = true
      signal()
    }
  })()
  reading.catch(() => {})
  try {
    for (;;) {
      if (made.length) {
        let block: RecipeBlock
        try {
          block = await made[0]
        } catch (err) {
          throw err instanceof RecipeReadError ? recipeFailureError(input, err.failure) : err
        }
        made.shift()
        signal()
        yield block
      } else if (ended) break
      else await waitSignal()
    }
    await reading
  } finally {
    stopped = true
    signal()
  }
}
