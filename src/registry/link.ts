/**
 * The `Link` header (RFC 8288, formerly RFC 5988) with which a registry pages a list: the
 * referrers API and the tags list answer `Link: <URL>; rel="next"` while more follows.
 */

/**
 * The target of the first `rel="next"` link in a Link header, resolved against `base` (the URL
 * of the response that carried it), or undefined when there is none. Whatever the header holds,
 * it gives a URL or nothing and never throws: a link that does not parse is no link. Where the
 * URL may be followed (its origin) is the caller's decision.
 */
export function nextLink(value: string | undefined, base: URL): URL | undefined {
  if (!value) return undefined
  for (const link of parseLinks(value)) {
    const rels = (link.params.get('rel') ?? '').toLowerCase().split(/[ \t]+/)
    if (!rels.includes('next')) continue
    try {
      return new URL(link.target, base)
    } catch {
      return undefined
    }
  }
  return undefined
}

interface Link {
  target: string
  /** Parameters by lower-cased name, the first of each kept (RFC 8288 section 3.3). */
  params: Map<string, string>
}

/**
 * `<a>; rel="next"; title="x, y", <b>; rel=prev`: each link-value's target and parameters.
 * Commas inside `<…>` and inside quoted strings belong to them; text that fits no link-value is
 * skipped up to the next comma.
 */
function parseLinks(s: string): Link[] {
  const links: Link[] = []
  let i = 0
  const n = s.length
  const skipSpace = () => {
    while (i < n && (s[i] === ' ' || s[i] === '\t')) i++
  }
  const skipToComma = () => {
    while (i < n && s[i] !== ',') {
      if (s[i] === '"') skipQuoted()
      else i++
    }
  }
  const skipQuoted = () => {
    for (i++; i < n && s[i] !== '"'; i++) if (s[i] === '\\') i++
    i++
  }
  while (i < n) {
    skipSpace()
    if (s[i] === ',') {
      i++
      continue
    }
    if (s[i] !== '<') {
      skipToComma()
      continue
    }
    const close = s.indexOf('>', i + 1)
    if (close < 0) break
    const link: Link = { target: s.slice(i + 1, close).trim(), params: new Map() }
    i = close + 1
    for (;;) {
      skipSpace()
      if (i >= n || s[i] === ',') break
      if (s[i] !== ';') {
        skipToComma()
        break
      }
      i++
      skipSpace()
      const start = i
      while (i < n && !'=;, \t'.includes(s[i])) i++
      const name = s.slice(start, i).toLowerCase()
      skipSpace()
      let value = ''
      if (s[i] === '=') {
        i++
        skipSpace()
        if (s[i] === '"') {
          let v = ''
          for (i++; i < n && s[i] !== '"'; i++) {
            if (s[i] === '\\' && i + 1 < n) i++
            v += s[i]
          }
          i++
          value = v
        } else {
          const from = i
          while (i < n && !';,'.includes(s[i])) i++
          value = s.slice(from, i).trim()
        }
      }
      if (name && !link.params.has(name)) link.params.set(name, value)
    }
    links.push(link)
  }
  return links
}
