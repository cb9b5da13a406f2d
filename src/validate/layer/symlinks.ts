/**
 * The symlinks of one layer as a tree of names, so that resolving a path through them costs one
 * step per name visited, however deep the path: looking every prefix of a path up in a map of
 * joined paths costs the square of its depth.
 */

/** A symlink of the layer: its normalised path and its target as written. */
export interface Symlink {
  path: string
  target: string
}

interface LinkNode {
  children?: Map<string, LinkNode>
  /** set while this path is a symlink */
  symlink?: Symlink & { parts: string[]; absolute: boolean }
}

/** Symlinks followed while resolving one path, as Linux allows (ELOOP beyond). */
const MAX_HOPS = 40

/** What is left to resolve of one path or symlink target. */
interface Pending {
  parts: string[]
  next: number
  end: number
}

export class SymlinkTree {
  /** Only directories that lead to a symlink have a node, so a layer without any costs nothing. */
  private readonly root: LinkNode = {}
  /** names visited and nodes made so far: the work the path checker bounds */
  steps = 0

  /** Makes the path of `parts` (normalised, non-empty) a symlink to `target`. */
  set(parts: string[], target: string): void {
    let node = this.root
    for (const p of parts) {
      this.steps++
      node.children ??= new Map()
      let child = node.children.get(p)
      if (!child) {
        child = {}
        node.children.set(p, child)
      }
      node = child
    }
    node.symlink = {
      path: parts.join('/'),
      target,
      parts: target.split('/'),
      absolute: target.startsWith('/')
    }
  }

  /** The path of `parts` is no longer a symlink (an entry of another type replaced it). */
  delete(parts: string[]): void {
    let node: LinkNode | undefined = this.root
    for (const p of parts) {
      if (!node?.children) return
      this.steps++
      node = node.children.get(p)
    }
    if (node) node.symlink = undefined
  }

  /**
   * Resolves `parts` (normalised) through the symlinks, lexically: an absolute target restarts
   * at the root (as containerd resolves it), `..` above the root leaves it. The last name is
   * followed only when `followLast` (a hardlink's target, which Python's tarfile links through
   * its symlink; an entry's own name is replaced, not followed). Returns the symlink through
   * which the path leaves the root, if it does.
   */
  escapeVia(parts: string[], followLast: boolean): Symlink | undefined {
    if (!this.root.children) return undefined
    const pending: Pending[] = [{ parts, next: 0, end: parts.length - (followLast ? 0 : 1) }]
    // The directories resolved so far; undefined where no symlink lies below.
    let dirs: Array<LinkNode | undefined> = []
    let hops = 0
    let last: Symlink | undefined
    while (pending.length) {
      const top = pending[pending.length - 1]
      if (top.next >= top.end) {
        pending.pop()
        continue
      }
      const c = top.parts[top.next++]
      this.steps++
      if (c === '' || c === '.') continue
      if (c === '..') {
        if (dirs.length === 0) return last
        dirs.pop()
        continue
      }
      const parent = dirs.length === 0 ? this.root : dirs[dirs.length - 1]
      const node = parent?.children?.get(c)
      const link = node?.symlink
      if (!link) {
        dirs.push(node)
        continue
      }
      last = { path: link.path, target: link.target }
      // A loop fails extraction (ELOOP) without writing anywhere: not an escape.
      if (++hops > MAX_HOPS) return undefined
      if (link.absolute) dirs = []
      pending.push({ parts: link.parts, next: 0, end: link.parts.length })
    }
    return undefined
  }
}
