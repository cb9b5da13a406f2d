/**
 * The path and whiteout rules of one layer, fed its tar headers in order: paths that climb out
 * of the root (by `..` or through the layer's own symlinks), duplicates, hardlinks to what is
 * not an earlier entry, and whiteouts that are malformed or delete what the same layer adds.
 */
import type tar from 'tar-stream'
import { finding, type Finding } from '../rules.js'

/** Normalises a tar path: `./a//b/` → `a/b`; undefined when `..` climbs out of the root. */
export function normalise(p: string): string | undefined {
  const out: string[] = []
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue
    if (part === '..') {
      if (out.length === 0) return undefined
      out.pop()
    } else out.push(part)
  }
  return out.join('/')
}

/** Symlinks followed while resolving one path, as Linux allows (ELOOP beyond). */
const MAX_HOPS = 40

/**
 * Checks a layer's tar headers in order, adding what it finds at `location` entry "name";
 * `finish` adds the whiteout findings that need the whole layer.
 */
export class TarPathChecker {
  /** entry type per normalised path seen so far: to find duplicates and judge hardlink targets */
  private readonly types = new Map<string, string>()
  private readonly symlinks = new Map<string, string>()
  private readonly whiteouts = new Map<string, string>()

  constructor(
    private readonly location: string,
    private readonly add: (f: Finding) => void
  ) {}

  private where(name: string): string {
    return `${this.location} entry ${JSON.stringify(name)}`
  }

  /**
   * Resolves the parent directories of `parts` through this layer's symlinks, lexically: an
   * absolute target restarts at the root (as containerd resolves it), `..` above the root leaves
   * it. Returns the symlink through which the path leaves the root, if it does.
   */
  private escapeVia(parts: string[]): { link: string; target: string } | undefined {
    const queue = parts.slice(0, -1)
    const cur: string[] = []
    let hops = 0
    let last: { link: string; target: string } | undefined
    while (queue.length) {
      const c = queue.shift() as string
      if (c === '' || c === '.') continue
      if (c === '..') {
        if (cur.length === 0) return last
        cur.pop()
        continue
      }
      cur.push(c)
      const target = this.symlinks.get(cur.join('/'))
      if (target === undefined) continue
      last = { link: cur.join('/'), target }
      // A loop fails extraction (ELOOP) without writing anywhere: not an escape.
      if (++hops > MAX_HOPS) return undefined
      cur.pop()
      if (target.startsWith('/')) cur.length = 0
      queue.unshift(...target.split('/'))
    }
    return undefined
  }

  entry(h: tar.Header): void {
    const name = h.name
    const loc = this.where(name)
    const norm = normalise(name)
    if (norm === undefined) {
      this.add(finding('layer-path-escapes', loc, 'the path climbs out of the root with ".."'))
      return
    }
    if (norm === '') return // the root directory itself
    const parts = norm.split('/')
    const via = this.escapeVia(parts)
    if (via)
      this.add(
        finding(
          'layer-path-escapes',
          loc,
          `the path goes through "${via.link}", a symlink in this layer to "${via.target}" that resolves outside the root; extracting it writes outside the image`
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
    if (h.type === 'link') this.hardlink(h.linkname ?? '', norm, loc)
    this.types.set(norm, h.type ?? 'file')
    if (h.type === 'symlink') this.symlinks.set(norm, h.linkname ?? '')
    else this.symlinks.delete(norm)
    if (parts[parts.length - 1].startsWith('.wh.')) this.whiteout(h, parts, loc)
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
    const t = normalise(target)
    if (t === undefined) {
      this.add(
        finding(
          'layer-link-escapes',
          loc,
          `the hardlink target "${target}" climbs out of the root with ".."`
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
