/**
 * The path and whiteout rules of one layer, fed its tar headers in order: paths that climb out
 * of the root (by `..` or through the layer's own symlinks), duplicates, hardlinks to what is
 * not an earlier entry, and whiteouts that are malformed or delete what the same layer adds.
 */
import type tar from 'tar-stream'
import { finding, type Finding } from '../rules.js'
import { SymlinkTree, type Symlink } from './symlinks.js'

/** Linux PATH_MAX: the longest path, in bytes, that open(2) or symlink(2) takes. */
export const MAX_PATH_BYTES = 4096
/** Linux NAME_MAX: the longest name of one file, in bytes. */
export const MAX_NAME_BYTES = 255
/**
 * Resolving paths through a layer's symlinks may take this many steps per byte of its headers
 * (at least 512 per entry), beyond BASE_STEPS: a real layer needs a few; a crafted chain of long
 * symlinks needs thousands per entry, and is then not resolved any further (an error).
 */
const STEPS_PER_BYTE = 4
const BASE_STEPS = 1 << 20
const HEADER_BYTES = 512

/** The names of a tar path, `./a//b/` → [a, b]; undefined when `..` climbs out of the root. */
export function normalisedParts(p: string): string[] | undefined {
  return normalisedNames(p.split('/'))
}

function normalisedNames(names: string[]): string[] | undefined {
  const out: string[] = []
  for (const part of names) {
    if (part === '' || part === '.') continue
    if (part === '..') {
      if (out.length === 0) return undefined
      out.pop()
    } else out.push(part)
  }
  return out
}

/** Normalises a tar path: `./a//b/` → `a/b`; undefined when `..` climbs out of the root. */
export function normalise(p: string): string | undefined {
  return normalisedParts(p)?.join('/')
}

/** Whether a path has more bytes than PATH_MAX, without encoding a long one. */
function overPathMax(p: string): boolean {
  return p.length > MAX_PATH_BYTES || Buffer.byteLength(p) > MAX_PATH_BYTES
}

function longName(parts: string[]): string | undefined {
  return parts.find(p => p.length > MAX_NAME_BYTES / 3 && Buffer.byteLength(p) > MAX_NAME_BYTES)
}

/**
 * Checks a layer's tar headers in order, adding what it finds at `location` entry "name";
 * `finish` adds the whiteout findings that need the whole layer. Its work and what it keeps are
 * proportional to the headers' size: paths over PATH_MAX are refused before they are looked at.
 */
export class TarPathChecker {
  /** entry type per normalised path seen so far: to find duplicates and judge hardlink targets */
  private readonly types = new Map<string, string>()
  private readonly symlinks = new SymlinkTree()
  private readonly whiteouts = new Map<string, string>()
  /** the steps the symlink resolution may take so far */
  private allowance = BASE_STEPS
  /** set once the allowance was spent: symlinks are no longer resolved */
  private unresolved = false
  /** names normalised so far */
  private normalised = 0
  /** names visited: the checker's work, which grows with the headers' size (tests bound it) */
  get steps(): number {
    return this.normalised + this.symlinks.steps
  }

  constructor(
    private readonly location: string,
    private readonly add: (f: Finding) => void
  ) {}

  private where(name: string): string {
    // A name no runtime can extract is shown cut, so a hostile one cannot flood the report.
    const shown =
      name.length > MAX_PATH_BYTES ? JSON.stringify(name.slice(0, 100)) + '…' : JSON.stringify(name)
    return `${this.location} entry ${shown}`
  }

  private parts(p: string): string[] | undefined {
    const names = p.split('/')
    this.normalised += names.length
    return normalisedNames(names)
  }

  /** Resolves through this layer's symlinks unless they took more work than the layer allows. */
  private escapeVia(parts: string[], followLast: boolean, loc: string): Symlink | undefined {
    if (this.unresolved) return undefined
    const via = this.symlinks.escapeVia(parts, followLast)
    if (this.symlinks.steps > this.allowance) {
      this.unresolved = true
      this.add(
        finding(
          'layer-path-unchecked',
          loc,
          `resolving the layer's paths through its symlinks took more than ${STEPS_PER_BYTE} steps per byte of its headers; the paths from here on were not checked for escapes`
        )
      )
    }
    return via
  }

  entry(h: tar.Header): void {
    const name = h.name
    const link = h.type === 'symlink' || h.type === 'link' ? (h.linkname ?? '') : ''
    this.allowance += STEPS_PER_BYTE * (HEADER_BYTES + name.length + link.length)
    if (overPathMax(name)) {
      this.add(
        finding(
          'layer-path-too-long',
          this.where(name),
          `the path has ${Buffer.byteLength(name)} bytes, more than Linux's PATH_MAX of ${MAX_PATH_BYTES}; no runtime can extract it`
        )
      )
      return
    }
    const loc = this.where(name)
    const parts = this.parts(name)
    if (parts === undefined) {
      this.add(finding('layer-path-escapes', loc, 'the path climbs out of the root with ".."'))
      return
    }
    if (parts.length === 0) return // the root directory itself
    if (!this.namesFit(parts, loc) || !this.linkFits(link, loc)) return
    const norm = parts.join('/')
    const via = this.escapeVia(parts, false, loc)
    if (via)
      this.add(
        finding(
          'layer-path-escapes',
          loc,
          `the path goes through "${via.path}", a symlink in this layer to "${via.target}" that resolves outside the root; extracting it writes outside the image`
        )
      )
    if (this.types.has(norm))
      this.add(
        finding(
          'layer-duplicate-path',
          loc,
          `the path "${norm}" appears more than once in the layer`
        )
      )
    if (h.type === 'link') this.hardlink(link, norm, loc)
    const wasSymlink = this.types.get(norm) === 'symlink'
    this.types.set(norm, h.type ?? 'file')
    if (this.unresolved) {
      // symlinks are no longer resolved: none is recorded
    } else if (h.type === 'symlink') this.symlinks.set(parts, link)
    else if (wasSymlink) this.symlinks.delete(parts)
    if (parts[parts.length - 1].startsWith('.wh.')) this.whiteout(h, parts, loc)
  }

  /** Whether every name of the path fits NAME_MAX; reports the first that does not. */
  private namesFit(parts: string[], loc: string): boolean {
    const long = longName(parts)
    if (long === undefined) return true
    this.add(
      finding(
        'layer-name-too-long',
        loc,
        `the name "${long.slice(0, 100)}${long.length > 100 ? '…' : ''}" has ${Buffer.byteLength(long)} bytes, more than Linux's NAME_MAX of ${MAX_NAME_BYTES}; no runtime can extract it`
      )
    )
    return false
  }

  /** Whether a link target fits PATH_MAX (symlink(2) and link(2) refuse longer ones). */
  private linkFits(link: string, loc: string): boolean {
    if (!overPathMax(link)) return true
    this.add(
      finding(
        'layer-path-too-long',
        loc,
        `the link target has ${Buffer.byteLength(link)} bytes, more than Linux's PATH_MAX of ${MAX_PATH_BYTES}; no runtime can extract it`
      )
    )
    return false
  }

  /** The rules of a whiteout entry, whose path `parts` ends in a `.wh.` name. */
  private whiteout(h: tar.Header, parts: string[], loc: string): void {
    const base = parts[parts.length - 1]
    if (base === '.wh.') {
      this.add(
        finding('layer-whiteout-bare', loc, 'a whiteout ".wh." without the name of what it deletes')
      )
      return
    }
    if (base.startsWith('.wh..wh.') && base !== '.wh..wh..opq') {
      this.add(
        finding(
          'layer-whiteout-meta',
          loc,
          `"${base}" is aufs metadata, not a whiteout; OCI runtimes ignore or reject it`
        )
      )
      return
    }
    if (h.type !== 'file' && h.type !== 'contiguous-file')
      this.add(
        finding(
          'layer-whiteout',
          loc,
          `a whiteout is a ${h.type}; it must be an empty regular file`
        )
      )
    else if ((h.size ?? 0) > 0)
      this.add(
        finding(
          'layer-whiteout',
          loc,
          `a whiteout has ${h.size} bytes of data; it must be an empty regular file`
        )
      )
    if (base === '.wh..wh..opq') return
    const target = base.slice(4)
    if (target === '.' || target === '..') {
      this.add(
        finding(
          'layer-whiteout',
          loc,
          `a whiteout of "${target}", which names nothing that can be deleted`
        )
      )
      return
    }
    this.whiteouts.set([...parts.slice(0, -1), target].join('/'), h.name)
  }

  private hardlink(target: string, norm: string, loc: string): void {
    const parts = this.parts(target)
    if (parts === undefined) {
      this.add(
        finding(
          'layer-link-escapes',
          loc,
          `the hardlink target "${target}" climbs out of the root with ".."`
        )
      )
      return
    }
    if (!this.namesFit(parts, loc)) return
    const t = parts.join('/')
    const via = parts.length > 0 ? this.escapeVia(parts, true, loc) : undefined
    if (via) {
      this.add(
        finding(
          'layer-link-escapes',
          loc,
          `the hardlink target "${target}" goes through "${via.path}", a symlink in this layer to "${via.target}" that resolves outside the root; Python's tarfile links the file outside the image`
        )
      )
      return
    }
    if (target.startsWith('/'))
      this.add(
        finding(
          'layer-hardlink-target',
          loc,
          `the hardlink target "${target}" is absolute; containerd resolves it under the root, other extractors may not`
        )
      )
    if (t === '' || this.types.get(t) === 'directory') {
      this.add(
        finding(
          'layer-hardlink',
          loc,
          `the hardlink target "${target}" is a directory; hardlinks to directories are not allowed`
        )
      )
      return
    }
    if (!this.types.has(t))
      this.add(
        finding(
          'layer-hardlink-target',
          loc,
          t === norm
            ? `the hardlink points at itself`
            : `the hardlink target "${target}" is not an earlier entry of this layer (missing, or later in the tar); extraction fails or links a file of a lower layer`
        )
      )
  }

  finish(): void {
    for (const [target, name] of this.whiteouts)
      if (this.types.has(target))
        this.add(
          finding(
            'layer-whiteout',
            this.where(name),
            `the whiteout deletes "${target}", which the same layer adds; whiteouts apply only to lower layers`
          )
        )
  }
}
