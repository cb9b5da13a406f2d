/**
 * Tar streams made lazily, entry by entry, with pax `path`/`linkpath` records for long names: a
 * hostile layer of hundreds of megabytes costs the test no memory to make.
 */
import { Readable } from 'node:stream'

export interface GenEntry {
  name: string
  type?: 'file' | 'directory' | 'symlink' | 'link'
  linkname?: string
}

const TYPEFLAG = { file: '0', link: '1', symlink: '2', directory: '5' } as const

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0'
}

function header(name: string, typeflag: string, size: number, linkname = ''): Buffer {
  const h = Buffer.alloc(512)
  h.write(name.slice(0, 100), 0, 'utf8')
  h.write(octal(0o644, 8), 100)
  h.write(octal(0, 8), 108)
  h.write(octal(0, 8), 116)
  h.write(octal(size, 12), 124)
  h.write(octal(0, 12), 136)
  h.write(typeflag, 156)
  h.write(linkname.slice(0, 100), 157, 'utf8')
  h.write('ustar\0' + '00', 257, 'latin1')
  h.fill(0x20, 148, 156)
  let sum = 0
  for (const b of h) sum += b
  h.write(octal(sum, 7) + ' ', 148, 'latin1')
  return h
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`
  let len = Buffer.byteLength(body) + 1
  while (String(len).length + Buffer.byteLength(body) !== len)
    len = String(len).length + Buffer.byteLength(body)
  return `${len}${body}`
}

function pad(n: number): Buffer {
  return Buffer.alloc((512 - (n % 512)) % 512)
}

/** The blocks of one entry without data: a pax header when a name does not fit ustar. */
export function entryBlocks(e: GenEntry): Buffer[] {
  const out: Buffer[] = []
  const link = e.linkname ?? ''
  let pax = ''
  if (Buffer.byteLength(e.name) > 100) pax += paxRecord('path', e.name)
  if (Buffer.byteLength(link) > 100) pax += paxRecord('linkpath', link)
  if (pax) {
    const data = Buffer.from(pax)
    out.push(header('PaxHeader', 'x', data.length), data, pad(data.length))
  }
  out.push(header(e.name, TYPEFLAG[e.type ?? 'file'], 0, link))
  return out
}

/** A tar of `entries` (an iterable, possibly made on demand) ending with its two zero blocks. */
export function tarStream(entries: Iterable<GenEntry>): Readable {
  return Readable.from(
    (function* () {
      for (const e of entries) yield Buffer.concat(entryBlocks(e))
      yield Buffer.alloc(1024)
    })(),
    { objectMode: false }
  )
}

export function tarBytes(entries: Iterable<GenEntry>): Promise<Buffer> {
  return tarStream(entries)
    .toArray()
    .then(chunks => Buffer.concat(chunks as Buffer[]))
}

export function* repeat<T>(n: number, make: (i: number) => T): Generator<T> {
  for (let i = 0; i < n; i++) yield make(i)
}
