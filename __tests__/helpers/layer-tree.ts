/** A source tree with the awkward cases a layer must keep, made at run time, and a way to compare trees. */
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { createHash } from 'node:crypto'
import fc from 'fast-check'

export const LONG_DIR = 'long/' + 'd'.repeat(70)
/** A 150+ character path whose last component alone is over 100 bytes, so ustar cannot hold it. */
export const LONG_FILE = `${LONG_DIR}/${'f'.repeat(110)}.txt`

/** `parent/site`, holding one index.html: the smallest tree worth a layer. Returns its path. */
export async function makeSite(parent: string): Promise<string> {
  const site = path.join(parent, 'site')
  await fs.mkdir(site)
  await fs.writeFile(path.join(site, 'index.html'), '<h1>hi</h1>\n')
  return site
}

export async function makeTree(root: string): Promise<void> {
  const f = (p: string) => path.join(root, p)
  await fs.mkdir(f('bin'), { recursive: true })
  await fs.mkdir(f('etc/conf.d'), { recursive: true })
  await fs.mkdir(f('empty'))
  await fs.mkdir(f('café'))
  await fs.mkdir(f(LONG_DIR), { recursive: true })
  await fs.mkdir(f('sticky'))
  await fs.writeFile(f('bin/run.sh'), '#!/bin/sh\necho hi\n')
  await fs.writeFile(f('bin/suid'), 'pretend binary\n')
  await fs.writeFile(f('etc/secret'), 'token=1\n')
  await fs.writeFile(f('etc/conf.d/a.conf'), 'a=1\n')
  await fs.writeFile(f('empty-file'), '')
  await fs.writeFile(f('café/naïve.txt'), 'ünïcödé\n')
  await fs.writeFile(f('日本語.txt'), 'こんにちは\n')
  await fs.writeFile(f(LONG_FILE), 'long\n')
  // Bigger than the small-file threshold, so it goes through the streamed path.
  const big = Buffer.alloc(2 * 1024 * 1024 + 123)
  for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff
  await fs.writeFile(f('big.bin'), big)
  await fs.writeFile(
    f('a-b'),
    'after a/ and its contents: depth first, whatever the bytes of - and /\n'
  )
  await fs.mkdir(f('a'))
  await fs.writeFile(f('a/inner'), 'inner\n')
  await fs.link(f('etc/conf.d/a.conf'), f('hardlink.conf'))
  await fs.symlink('../etc/conf.d/a.conf', f('bin/rel-link'))
  await fs.symlink('/etc/passwd', f('bin/abs-link'))
  await fs.symlink('does/not/exist', f('dangling'))
  await fs.chmod(f('bin/run.sh'), 0o755)
  await fs.chmod(f('bin/suid'), 0o4755)
  await fs.chmod(f('etc/secret'), 0o600)
  await fs.chmod(f('sticky'), 0o1777)
  await fs.chmod(f('empty'), 0o700)
}

export interface Node {
  type: 'dir' | 'file' | 'symlink' | 'fifo' | 'other'
  mode: number
  size?: number
  sha?: string
  target?: string
  ino: number
}

/** Every path under root (relative, '/'-separated) with what a layer must preserve. */
export async function describeTree(root: string): Promise<Map<string, Node>> {
  const out = new Map<string, Node>()
  const visit = async (rel: string): Promise<void> => {
    const abs = path.join(root, rel)
    const st = await fs.lstat(abs)
    const mode = st.mode & 0o7777
    let node: Node
    if (st.isDirectory()) node = { type: 'dir', mode, ino: st.ino }
    else if (st.isSymbolicLink())
      node = { type: 'symlink', mode: 0, target: await fs.readlink(abs), ino: st.ino }
    else if (st.isFile())
      node = {
        type: 'file',
        mode,
        size: st.size,
        sha: createHash('sha256')
          .update(await fs.readFile(abs))
          .digest('hex'),
        ino: st.ino
      }
    else if (st.isFIFO()) node = { type: 'fifo', mode, ino: st.ino }
    else node = { type: 'other', mode, ino: st.ino }
    if (rel) out.set(rel.split(path.sep).join('/'), node)
    if (st.isDirectory())
      for (const name of await fs.readdir(abs)) await visit(rel ? path.join(rel, name) : name)
  }
  await visit('')
  return out
}

/** The tree without inode numbers, which differ between copies, as a plain object for toEqual. */
export function comparable(tree: Map<string, Node>): Record<string, Omit<Node, 'ino'>> {
  const o: Record<string, Omit<Node, 'ino'>> = {}
  for (const [k, v] of [...tree].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const { ino: _ino, ...rest } = v
    o[k] = rest
  }
  return o
}

/** Bytes that differ along a file, so a range read at the wrong place changes a digest. */
export function pattern(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n)
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed + (i >> 12)) & 0xff
  return b
}

/** Random trees for property tests: files NAME/f of patterned bytes, a few over 1 MiB. */
export function patternedTrees(maxFiles: number) {
  const file = fc.record({
    name: fc.stringMatching(/^[a-z]{1,12}$/),
    size: fc.oneof(
      fc.integer({ min: 0, max: 3000 }),
      fc.integer({ min: 0, max: 2 * 1024 * 1024 + 7 })
    ),
    seed: fc.nat(255)
  })
  return fc.array(file, { maxLength: maxFiles })
}

/** Writes one of patternedTrees' trees under `dir`. */
export async function writePatternedTree(
  dir: string,
  files: Array<{ name: string; size: number; seed: number }>
): Promise<void> {
  for (const f of files) {
    await fs.mkdir(path.join(dir, f.name), { recursive: true })
    await fs.writeFile(path.join(dir, f.name, 'f'), pattern(f.size, f.seed))
  }
}
