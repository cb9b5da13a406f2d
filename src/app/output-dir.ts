/**
 * The output directory: made ready before anything is built, its staging sibling, and the swap
 * that puts a finished layout in its place. Lading never deletes a directory it did not make.
 */
import * as fs from 'node:fs/promises'
import * as fsSync from 'node:fs'
import * as path from 'node:path'
import { randomBytes } from 'node:crypto'
import { LadingError, messageOf } from '../util/errors.js'
import type { Plan } from './plan.js'

/** The staging layout beside `output`, named so that a later run can tell whose it was. */
export function stagingPath(output: string): string {
  const base = path.basename(output)
  return path.join(
    path.dirname(output),
    `.${base}.lading-${process.pid}-${randomBytes(4).toString('hex')}`
  )
}

/**
 * Checks the output and archive locations before anything is built, creating the parent
 * directories one at a time (Node's recursive mkdir can spin on paths such as /proc/x/y).
 */
export async function prepareOutput(plan: Plan): Promise<void> {
  await mkdirParents(path.dirname(plan.output), 'output', plan.output)
  await replaceableOutput(plan.output)
  if (plan.archive) {
    await mkdirParents(path.dirname(plan.archive), 'archive', plan.archive)
    try {
      if ((await fs.stat(plan.archive)).isDirectory())
        throw new LadingError(`archive: "${plan.archive}" is a directory; give a file path`)
    } catch (err) {
      if (err instanceof LadingError) throw err
    }
  }
}

async function mkdirParents(dir: string, input: string, value: string): Promise<void> {
  const missing: string[] = []
  let cur = dir
  for (;;) {
    try {
      const st = await fs.stat(cur)
      if (!st.isDirectory())
        throw new LadingError(`${input}: cannot create "${value}": ${cur} is not a directory`)
      break
    } catch (err) {
      if (err instanceof LadingError) throw err
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new LadingError(`${input}: cannot create "${value}": ${messageOf(err)}`)
      missing.unshift(cur)
      const up = path.dirname(cur)
      if (up === cur) break
      cur = up
    }
  }
  for (const d of missing) {
    try {
      await fs.mkdir(d)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
        throw new LadingError(`${input}: cannot create "${value}": ${messageOf(err)}`)
    }
  }
  try {
    await fs.access(dir, fsSync.constants.W_OK)
  } catch (err) {
    throw new LadingError(`${input}: cannot write in ${dir}: ${messageOf(err)}`)
  }
}

/** Staging layouts left by runs that were killed (their process is gone) are removed. */
export async function removeStaleStages(dir: string, base: string): Promise<void> {
  const prefix = `.${base}.lading-`
  let names: string[]
  try {
    names = await fs.readdir(dir)
  } catch {
    return
  }
  for (const n of names) {
    if (!n.startsWith(prefix)) continue
    const pid = Number(n.slice(prefix.length).split('-')[0])
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue
    let alive = true
    try {
      process.kill(pid, 0)
    } catch (err) {
      alive = (err as NodeJS.ErrnoException).code === 'EPERM'
    }
    if (!alive) await fs.rm(path.join(dir, n), { recursive: true, force: true })
  }
}

/**
 * Moves the finished layout into place. A directory already there is replaced only when it is
 * an OCI layout (or empty): Lading never deletes a directory it did not make.
 */
export async function swapInto(stage: string, output: string): Promise<void> {
  // Checked again: the run took time, and the directory may have changed meanwhile.
  const exists = await replaceableOutput(output)
  const old = `${stage}.old`
  if (exists) await fs.rename(output, old)
  await fs.rename(stage, output)
  if (exists) await fs.rm(old, { recursive: true, force: true })
}

/**
 * Whether `output` exists; throws when it is there but may not be replaced. Replacing deletes the
 * directory whole, so it must hold nothing but what a layout Lading wrote holds: an empty
 * directory, or `oci-layout`, `index.json`, `blobs/ALG/ENCODED` files and Lading's temporary
 * area. Anything else (a file of the user's beside a stray `oci-layout`) stops the run.
 */
async function replaceableOutput(output: string): Promise<boolean> {
  let foreign: string | undefined
  try {
    if (!(await fs.stat(output)).isDirectory())
      throw new LadingError(`output: "${output}" exists and is not a directory`)
    foreign = await foreignEntry(output)
  } catch (err) {
    if (err instanceof LadingError) throw err
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw new LadingError(`output: cannot use "${output}": ${messageOf(err)}`)
  }
  if (foreign !== undefined)
    throw new LadingError(
      `output: "${output}" holds "${foreign}", which is not part of an OCI layout; ` +
        'refusing to replace it (remove it, or choose another output)'
    )
  return true
}

/** An algorithm directory and a blob file name, as the digest grammar spells them. */
const ALGORITHM_NAME = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*$/
const ENCODED_NAME = /^[a-zA-Z0-9=_-]+$/

/** The top-level entries a layout Lading wrote may hold, and what each must be. */
const LAYOUT_ENTRIES: Record<string, 'file' | 'dir' | 'any'> = {
  'oci-layout': 'file',
  'index.json': 'file',
  blobs: 'dir',
  // Lading's own temporary area, left by a run that was killed.
  '.lading-tmp': 'any'
}

/** The first entry of `dir` (as a path relative to it) that an OCI layout does not hold. */
async function foreignEntry(dir: string): Promise<string | undefined> {
  const top = await fs.readdir(dir, { withFileTypes: true })
  for (const e of byName(top)) {
    const want = LAYOUT_ENTRIES[e.name]
    if (want === undefined) return e.name
    if (want === 'file' && !e.isFile()) return e.name
    if (want === 'dir' && !e.isDirectory()) return e.name
  }
  if (!top.some(e => e.name === 'blobs')) return undefined
  const blobs = path.join(dir, 'blobs')
  for (const alg of byName(await fs.readdir(blobs, { withFileTypes: true }))) {
    const rel = `blobs/${alg.name}`
    if (!alg.isDirectory() || !ALGORITHM_NAME.test(alg.name)) return rel
    for (const blob of byName(
      await fs.readdir(path.join(blobs, alg.name), { withFileTypes: true })
    ))
      if (!blob.isFile() || !ENCODED_NAME.test(blob.name)) return `${rel}/${blob.name}`
  }
  return undefined
}

/** Directory entries in code-point order, so that "the first foreign file" is always the same one. */
function byName<T extends { name: string }>(entries: T[]): T[] {
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}
