/**
 * A tar written with deferred bodies (tar-writer's deferBody), cut into recipes of a fixed size
 * (codec/tar-recipe.ts): what a thread needs to make each stretch of the tar itself, reading the
 * files. The diff pass hashes its recipes on a thread (tree-hash.ts); a gzip build has each 1 MiB
 * recipe made and compressed by a libdeflate thread, while this thread walks the tree, writes the
 * headers and hashes.
 */
import type { MemberCompressor, RecipeBlock } from '../../codec/gzip-members.js'
import { RecipeReadError, type TarRecipe } from '../../codec/tar-recipe.js'
import { changedWhileRead, fileSystemError, type LocatedInput } from './input-errors.js'
import { PLACEHOLDER } from './tar-writer.js'

/** A recipe and the bytes of tar it makes. */
export interface SizedRecipe {
  recipe: TarRecipe
  length: number
}

/** First room for the bytes a recipe holds (headers, padding); it grows as a recipe needs. */
const WRITTEN_ROOM = 64 * 1024

/** The pieces of a tar fed in order, cut every `size` bytes of tar into recipes. */
export class RecipeCutter {
  private readonly bodies: Array<{ abs: string; size: number; done: number }> = []
  private bytes = Buffer.allocUnsafe(WRITTEN_ROOM)
  private written = 0
  private pieces: number[] = []
  private paths: string[] = []
  private filled = 0
  /** Recipes cut and not yet taken, in order. */
  readonly ready: SizedRecipe[] = []

  constructor(private readonly size: number) {}

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
      else this.write(c.subarray(at, at + n))
      at += n
      this.filled += n
      if (this.filled === this.size) this.ready.push(this.take())
    }
  }

  /** The last recipe, shorter than `size`, once the whole tar has been fed; none if empty. */
  rest(): SizedRecipe | undefined {
    return this.filled > 0 ? this.take() : undefined
  }

  private take(): SizedRecipe {
    // The bytes' memory may move to another thread: the next recipe takes a new one.
    const recipe: TarRecipe = {
      bytes: this.bytes.buffer.slice(this.bytes.byteOffset, this.bytes.byteOffset + this.written),
      pieces: new Float64Array(this.pieces).buffer,
      paths: this.paths
    }
    const length = this.filled
    this.written = 0
    this.pieces = []
    this.paths = []
    this.filled = 0
    return { recipe, length }
  }

  private write(c: Buffer): void {
    if (this.written + c.length > this.bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(2 * this.bytes.length, this.written + c.length))
      this.bytes.copy(grown, 0, 0, this.written)
      this.bytes = grown
    }
    const from = this.written
    c.copy(this.bytes, from)
    this.written += c.length
    const n = this.pieces.length
    // Bytes right after bytes (a header after padding) extend the piece before.
    if (n && this.pieces[n - 4] === -1 && this.pieces[n - 2] === from)
      this.pieces[n - 2] = this.written
    else this.pieces.push(-1, from, this.written, 0)
  }

  private body(length: number): void {
    const b = this.bodies[0]
    if (!b) throw new Error('a file body came with no file to read it from')
    const last = b.done + length === b.size
    if (this.paths[this.paths.length - 1] !== b.abs) this.paths.push(b.abs)
    this.pieces.push(this.paths.length - 1, b.done, length, last ? 1 : 0)
    b.done += length
    if (last) this.bodies.shift()
  }
}

/** The error for a recipe's file that could not be read, as a build reading it would give. */
export function recipeError(input: LocatedInput, err: unknown): Error {
  if (!(err instanceof RecipeReadError)) return err as Error
  const { path, changed, code, message } = err.failure
  if (changed) return changedWhileRead(input, path)
  return fileSystemError(input, path, Object.assign(new Error(message), code ? { code } : {}))
}

/**
 * The gzip members of a tar written with deferred bodies, in order: each block made and
 * compressed by `members`' threads from its recipe, at most `maxInFlight` at once. The tar is
 * read and cut as fast as the threads take recipes, not as the members are written: a member's
 * way to the file must not keep this thread from the next recipe. `onBlock` sees each block of
 * the tar, in order, before its member is given.
 */
export async function* recipeMembers(
  input: LocatedInput,
  tar: AsyncIterable<Buffer>,
  cutter: RecipeCutter,
  members: MemberCompressor,
  onBlock: (block: Buffer) => void
): AsyncGenerator<Buffer> {
  if (!members.recipe || !members.onlyRecipe) throw new Error('the compressor takes no recipes')
  const recipe = members.recipe.bind(members)
  const onlyRecipe = members.onlyRecipe.bind(members)
  const limit = members.maxInFlight
  const made: Array<Promise<RecipeBlock>> = []
  let taken = 0
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
        for (const r of cutter.ready.splice(0)) {
          while (made.length - taken >= limit && !stopped) await waitSignal()
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
      if (taken < made.length) {
        let block: RecipeBlock
        try {
          block = await made[taken]
        } catch (err) {
          throw recipeError(input, err)
        }
        made[taken++] = DONE
        signal()
        onBlock(block.block)
        block.done()
        yield block.member
      } else if (ended) break
      else await waitSignal()
    }
    await reading
  } finally {
    stopped = true
    signal()
  }
}

/** What a taken member's place holds, so that the list does not keep its memory. */
const DONE = Promise.resolve<RecipeBlock>({
  block: Buffer.alloc(0),
  member: Buffer.alloc(0),
  done: () => {}
})
