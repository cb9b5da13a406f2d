/**
 * Seeded benchmark datasets: the same seed gives the same tree, byte for byte, on every machine.
 *
 * - `mixed`: about 200 MB in about 10,000 files, shaped like a slice of /usr/share and /usr/lib:
 *   half the files text (docs, scripts, headers), a third binary-like (libraries: runs of zeros,
 *   tables of similar records, skewed opcodes), the rest incompressible (images, archives); sizes
 *   log-normal (median about 5 KB, a tail of multi-MB files); about 600 directories, some
 *   executables and relative symlinks.
 * - `tiny`: 100,000 files of 0–1 KiB of text in 1,000 directories.
 *
 * Run alone: `node --experimental-strip-types bench/dataset.ts mixed|tiny DIR [MB] [FILES]`.
 */
import { createCipheriv, createHash } from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

/** A deterministic byte stream: AES-256-CTR of zeros under a key derived from the seed. */
export class Rng {
  private buf: Buffer = Buffer.alloc(0)
  private pos = 0
  private readonly cipher

  constructor(seed: string) {
    const key = createHash('sha256').update(seed).digest()
    this.cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16))
  }

  bytes(n: number): Buffer {
    return this.cipher.update(Buffer.alloc(n))
  }

  /** A uniform number in [0, 1). */
  next(): number {
    if (this.pos + 4 > this.buf.length) {
      this.buf = this.bytes(64 * 1024)
      this.pos = 0
    }
    const v = this.buf.readUInt32LE(this.pos)
    this.pos += 4
    return v / 2 ** 32
  }

  int(n: number): number {
    return Math.floor(this.next() * n)
  }

  normal(): number {
    return Math.sqrt(-2 * Math.log(1 - this.next())) * Math.cos(2 * Math.PI * this.next())
  }
}

const SYLLABLES = [
  'con',
  'fig',
  'ure',
  'lib',
  'ra',
  'ry',
  'ver',
  'sion',
  'the',
  'and',
  'for',
  'ing',
  'ment',
  'data',
  'file',
  'path',
  'user',
  'set',
  'get',
  'int',
  'char',
  'void',
  'struct',
  'return',
  'if',
  'else',
  'error',
  'value',
  'type',
  'name',
  'size',
  'list',
  'node',
  'tree',
  'hash',
  'map',
  'al',
  'er',
  'on',
  'in',
  'at',
  'es',
  'ti',
  'or',
  're',
  'an',
  'de',
  'to',
  'is',
  'it'
]

/**
 * Text like documentation and source: words from a Zipf-ish vocabulary in lines, and, as in real
 * code, many lines that repeat a recent one with a word or two changed.
 */
function textCorpus(rng: Rng, size: number): Buffer {
  const vocab: string[] = []
  for (let i = 0; i < 3000; i++) {
    let w = ''
    const n = 1 + rng.int(3)
    for (let j = 0; j < n; j++) w += SYLLABLES[rng.int(SYLLABLES.length)]
    vocab.push(w)
  }
  const word = (): string => vocab[Math.floor(vocab.length * rng.next() ** 4)]
  const recent: string[][] = []
  const lines: string[] = []
  let len = 0
  while (len < size) {
    let words: string[]
    if (recent.length > 8 && rng.next() < 0.55) {
      words = [...recent[recent.length - 1 - rng.int(Math.min(recent.length, 40))]]
      words[rng.int(words.length)] = word()
    } else {
      words = Array.from({ length: 2 + rng.int(10) }, word)
      words.unshift('    '.repeat(rng.int(4)))
    }
    recent.push(words)
    if (recent.length > 64) recent.shift()
    const line = words.join(' ') + (rng.next() < 0.3 ? ';\n' : '\n')
    lines.push(line)
    len += line.length
  }
  return Buffer.from(lines.join('')).subarray(0, size)
}

/** Bytes like compiled code: zero runs, similar fixed-size records, skewed opcode bytes. */
function binaryCorpus(rng: Rng, size: number): Buffer {
  const out = Buffer.alloc(size)
  const ops = rng.bytes(24)
  let i = 0
  while (i < size) {
    const kind = rng.next()
    const n = Math.min(size - i, 64 + rng.int(2048))
    if (kind < 0.25) {
      i += n // zeros
    } else if (kind < 0.55) {
      const rec = rng.bytes(16)
      for (let j = 0; j < n; j++) out[i + j] = j % 16 === 3 ? rng.int(256) : rec[j % 16]
      i += n
    } else if (kind < 0.93) {
      for (let j = 0; j < n; j++)
        out[i + j] = rng.next() < 0.85 ? ops[Math.floor(24 * rng.next() ** 2)] : rng.int(256)
      i += n
    } else {
      rng.bytes(n).copy(out, i)
      i += n
    }
  }
  return out
}

export interface DatasetInfo {
  files: number
  bytes: number
  dirs: number
  symlinks: number
}

function dirNames(rng: Rng, count: number): string[] {
  const dirs = ['']
  while (dirs.length < count) {
    const parent = dirs[rng.int(dirs.length)]
    if (parent.split('/').length > 4) continue
    const name = `${SYLLABLES[rng.int(SYLLABLES.length)]}${SYLLABLES[rng.int(SYLLABLES.length)]}${dirs.length}`
    dirs.push(parent ? `${parent}/${name}` : name)
  }
  return dirs
}

/** The ~200 MB, ~10,000-file tree. `mb` and `files` scale it. */
export function makeMixed(
  dir: string,
  mb = 200,
  files = 10000,
  seed = 'lading-bench-1'
): DatasetInfo {
  const rng = new Rng(`${seed}/mixed`)
  const text = textCorpus(rng, 8 * 1024 * 1024)
  const bin = binaryCorpus(rng, 8 * 1024 * 1024)
  const dirs = dirNames(rng, Math.max(2, Math.round(files / 16)))
  // Log-normal sizes, then scaled so the total is what was asked for.
  const raw = Array.from({ length: files }, () => Math.exp(8.5 + 1.6 * rng.normal()))
  const scale = (mb * 1e6) / raw.reduce((a, b) => a + b, 0)
  const cap = 24 * 1024 * 1024
  fs.mkdirSync(dir, { recursive: true })
  for (const d of dirs) if (d) fs.mkdirSync(path.join(dir, d), { recursive: true })
  let bytes = 0
  let symlinks = 0
  for (let i = 0; i < files; i++) {
    const size = Math.min(cap, Math.round(raw[i] * scale))
    const d = dirs[rng.int(dirs.length)]
    const kind = rng.next()
    let data: Buffer
    let ext: string
    if (kind < 0.55) {
      const at = rng.int(text.length - Math.min(size, text.length - 1))
      data = size <= text.length - at ? text.subarray(at, at + size) : repeatTo(text, at, size)
      ext = ['.txt', '.py', '.h', '.html', '.md', ''][rng.int(6)]
    } else if (kind < 0.92) {
      const at = rng.int(bin.length - Math.min(size, bin.length - 1))
      data = size <= bin.length - at ? bin.subarray(at, at + size) : repeatTo(bin, at, size)
      ext = ['.so', '.a', '.bin', ''][rng.int(4)]
    } else {
      data = rng.bytes(size)
      ext = ['.png', '.gz', '.jpg'][rng.int(3)]
    }
    const file = path.join(dir, d, `f${i}${ext}`)
    fs.writeFileSync(file, data)
    if (ext === '' || ext === '.py') fs.chmodSync(file, 0o755)
    bytes += data.length
    if (i % 200 === 199) {
      fs.symlinkSync(`f${i}${ext}`, path.join(dir, d, `link${i}`))
      symlinks++
    }
  }
  return { files, bytes, dirs: dirs.length, symlinks }
}

/** A long file from the corpus, wrapping round; XOR with the offset keeps the repeats distinct. */
function repeatTo(corpus: Buffer, at: number, size: number): Buffer {
  const out = Buffer.alloc(size)
  let o = 0
  let pass = 0
  while (o < size) {
    const n = corpus.subarray(at, at + (size - o)).copy(out, o)
    for (let j = o; j < o + n; j += 4096) out[j] ^= pass & 0xff
    o += n
    at = 0
    pass++
  }
  return out
}

/** 100,000 tiny text files in 1,000 directories. */
export function makeTiny(dir: string, files = 100000, seed = 'lading-bench-1'): DatasetInfo {
  const rng = new Rng(`${seed}/tiny`)
  const text = textCorpus(rng, 1024 * 1024)
  const ndirs = Math.max(1, Math.round(files / 100))
  let bytes = 0
  for (let d = 0; d < ndirs; d++) fs.mkdirSync(path.join(dir, `d${d}`), { recursive: true })
  for (let i = 0; i < files; i++) {
    const size = rng.int(1025)
    const at = rng.int(text.length - size)
    fs.writeFileSync(path.join(dir, `d${i % ndirs}`, `t${i}.txt`), text.subarray(at, at + size))
    bytes += size
  }
  return { files, bytes, dirs: ndirs, symlinks: 0 }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [kind, dir, a, b] = process.argv.slice(2)
  const info =
    kind === 'tiny'
      ? makeTiny(dir, a ? Number(a) : undefined)
      : makeMixed(dir, a ? Number(a) : undefined, b ? Number(b) : undefined)
  console.log(JSON.stringify(info))
}
