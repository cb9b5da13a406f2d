/**
 * The entries of a layer built from a directory or a file: paths in the image, in the order
 * `tar --sort=name` writes them, with what the run itself writes left out.
 */
import * as fsSync from 'node:fs'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import {
  escapeBytes,
  fileSystemError,
  layerError,
  shownPath,
  type LocatedInput
} from './input-errors.js'

/** An entry of the layer: a path in the image, and where it comes from on disk unless synthesised. */
export interface TreeEntry {
  name: string
  abs?: string
  /** The SOURCE itself, which may be a symlink to what is meant. */
  followLink?: boolean
}

function treeEntry(name: string, abs?: string, followLink = false): TreeEntry {
  return { name, abs, followLink }
}

/** `usr/local/app` → entries for `usr` and `usr/local`, so the tar needs nothing from a base. */
export function parentEntries(name: string): TreeEntry[] {
  const parts = name.split('/')
  const out: TreeEntry[] = []
  for (let i = 1; i < parts.length; i++) out.push(treeEntry(parts.slice(0, i).join('/')))
  return out
}

/** A DEST as a tar name: normalised, no leading or trailing '/', '' for the root. */
export function imagePath(dest: string): string {
  return path.posix.normalize(dest).replace(/^\/+/, '').replace(/\/+$/, '')
}

/** The prefix by which the image format marks a whiteout: an entry that deletes a lower layer's path. */
const WHITEOUT_PREFIX = '.wh.'

const WHITEOUT_HARM =
  `a name starting with ${WHITEOUT_PREFIX} would be a whiteout that deletes the base image's ` +
  `file at that path; rename it`

/**
 * Refuses a DEST or a single file's name holding a whiteout name: a layer built from files must
 * never delete anything of the base by accident.
 */
export function refuseWhiteoutPath(input: LocatedInput, name: string): void {
  if (name.split('/').some(part => part.startsWith(WHITEOUT_PREFIX)))
    throw layerError(input, `"/${name}" in the image: ${WHITEOUT_HARM}`)
}

/** Where a path really is; for a path not made yet, where it would be. */
async function canonicalPath(p: string): Promise<string> {
  const abs = path.resolve(p)
  try {
    return await fs.realpath(abs)
  } catch {
    try {
      return path.join(await fs.realpath(path.dirname(abs)), path.basename(abs))
    } catch {
      return abs
    }
  }
}

export interface Exclusions {
  /** Whether the path is excluded itself. */
  has(abs: string): boolean
  /** Whether the path is excluded or inside something excluded. */
  covers(abs: string): boolean
  /**
   * Whether any entry of the directory may be excluded (`has`): when not, the walk asks nothing
   * of its entries, most directories' case (100,000 paths asked one by one cost 2% of a build).
   */
  mayHoldAny(dir: string): boolean
}

/**
 * The paths a directory layer leaves out: the store's root and `patterns`, each resolved to where
 * it really is so that a symlink on the way to either side still matches.
 */
export async function resolveExclusions(
  storeRoot: string,
  patterns: string[]
): Promise<Exclusions> {
  const exact = new Set([await canonicalPath(storeRoot)])
  const prefixes: string[] = []
  for (const p of patterns) {
    if (p.endsWith('*')) {
      // Canonicalise the directory part only: the rest is a name prefix, not a path.
      const stem = p.slice(0, -1)
      const dir = stem.endsWith('/') ? stem : path.dirname(stem)
      const real = await canonicalPath(dir)
      prefixes.push(
        stem.endsWith('/') ? real.replace(/\/*$/, '/') : path.join(real, path.basename(stem))
      )
    } else exact.add(await canonicalPath(p))
  }
  const has = (abs: string) => exact.has(abs) || prefixes.some(pre => abs.startsWith(pre))
  // An entry of DIR (DIR/NAME) is an exact path only if that path's parent is DIR, and starts
  // with a prefix only if the prefix starts with DIR/, or DIR/ starts with the prefix.
  const exactParents = new Set([...exact].map(e => path.dirname(e)))
  const mayHoldAny = (dir: string) => {
    const under = dir.endsWith(path.sep) ? dir : dir + path.sep
    return (
      exactParents.has(dir) || prefixes.some(pre => pre.startsWith(under) || under.startsWith(pre))
    )
  }
  return {
    has,
    covers: abs => has(abs) || [...exact].some(e => abs.startsWith(e.endsWith('/') ? e : `${e}/`)),
    mayHoldAny
  }
}

/**
 * Every path under the source directory, with DEST and its parents, depth first: each directory
 * just before its contents, and the names in a directory in byte order (as `tar --sort=name`).
 * Directories are read one at a time as the tar is written, so a tree costs the memory of the
 * directories on one path down it, not of a list of every file in it.
 */
export function* walkTree(
  input: LocatedInput,
  excluded: Exclusions,
  root: string
): Generator<TreeEntry> {
  const top = input.realSource!
  if (root) {
    yield* parentEntries(root)
    yield treeEntry(root, top, true)
  }
  yield* walkDirectory(input, excluded, top, root)
}

function* walkDirectory(
  input: LocatedInput,
  excluded: Exclusions,
  abs: string,
  name: string
): Generator<TreeEntry> {
  const children = sortedChildren(input, abs)
  const mayExclude = excluded.mayHoldAny(abs)
  for (const child of children) {
    const base = child.name
    const childAbs = childPath(abs, base)
    // Building from '.' into a layout under '.' must not swallow the layer being written.
    if ((mayExclude && excluded.has(childAbs)) || child.isSocket()) continue
    if (base.startsWith(WHITEOUT_PREFIX))
      throw layerError(input, `"${shownPath(input, childAbs)}": ${WHITEOUT_HARM}`)
    const childName = name ? `${name}/${base}` : base
    yield treeEntry(childName, childAbs)
    if (child.isDirectory()) yield* walkDirectory(input, excluded, childAbs, childName)
  }
}

/**
 * A child's path: its directory's (absolute, normalised: a real path or one built here) and its
 * name. Not path.join, whose result is built a character run at a time: 100,000 paths of about 10
 * parts each held 63 MB of heap in a test script, about 600 bytes a path. A deferred file's path
 * is held until its recipe is cut (up to a thousand at a time); the builds measured no
 * difference.
 */
function childPath(dir: string, name: string): string {
  return dir.endsWith(path.sep) ? dir + name : dir + path.sep + name
}

/** Surrogates: the one place where text's order (UTF-16 units) and UTF-8's bytes disagree. */
const SURROGATE = /[\uD800-\uDFFF]/

/**
 * A directory's entries in byte order, as `tar --sort=name`. Read as text, which costs far less
 * than a Buffer a name; a name that is not UTF-8 reads as U+FFFD, and then the directory is read
 * again as bytes to tell whether one is, and name it. Without surrogates (names beyond U+FFFF),
 * comparing the text orders names as their UTF-8 bytes do.
 */
function sortedChildren(input: LocatedInput, abs: string): fsSync.Dirent[] {
  let children: fsSync.Dirent[]
  try {
    children = fsSync.readdirSync(abs, { withFileTypes: true })
  } catch (err) {
    throw fileSystemError(input, abs, err)
  }
  if (children.some(c => c.name.includes('\uFFFD'))) refuseNonUtf8Names(input, abs)
  if (children.some(c => SURROGATE.test(c.name)))
    children.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)))
  else children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  return children
}

/** Fails, naming it, on the first name in the directory that is not valid UTF-8. */
function refuseNonUtf8Names(input: LocatedInput, abs: string): void {
  let raw: Buffer[]
  try {
    // As bytes: a name that is not UTF-8 would otherwise be mangled into one that does not exist.
    raw = fsSync.readdirSync(abs, { encoding: 'buffer' })
  } catch (err) {
    throw fileSystemError(input, abs, err)
  }
  raw.sort(Buffer.compare)
  for (const name of raw)
    if (!Buffer.from(name.toString('utf8'), 'utf8').equals(name))
      throw layerError(
        input,
        `the name "${escapeBytes(name)}" under "${shownPath(input, abs)}" is not valid UTF-8, which layer paths must be; rename it`
      )
}
