import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { nextLink } from '../../src/registry/link.js'

const base = new URL('http://127.0.0.1:5000/v2/r/referrers/sha256:aa')

describe('nextLink', () => {
  it.each([
    ['</v2/r/referrers/sha256:aa?n=2&last=x>; rel="next"', '/v2/r/referrers/sha256:aa?n=2&last=x'],
    ['<?page=2>; rel=next', '/v2/r/referrers/sha256:aa?page=2'],
    ['<page2>;rel="NEXT"', '/v2/r/referrers/page2'],
    ['</prev>; rel="prev", </next>; rel="next"', '/next'],
    ['</a>; title="a, b; rel=next", </b>; rel="next"', '/b'],
    ['</a,b>; rel="prev next"', '/a,b'],
    ['junk, </c>; rel="next"', '/c'],
    ['</d>; rel="next"; rel="prev"', '/d']
  ])('%s gives %s', (header, path) => {
    const url = nextLink(header, base)
    expect(url && url.pathname + url.search).toBe(path)
    expect(url?.origin).toBe(base.origin)
  })

  it('keeps an absolute URL absolute (the caller decides on its origin)', () => {
    expect(nextLink('<https://elsewhere.example/v2/x?n=1>; rel="next"', base)?.href).toBe(
      'https://elsewhere.example/v2/x?n=1'
    )
  })

  it.each([
    undefined,
    '',
    '</a>; rel="prev"',
    '</a>',
    '<http://[::1>; rel="next"',
    '</a; rel="next"',
    'rel="next"',
    '</a>; rel="nextpage"'
  ])('%s gives nothing', header => {
    expect(nextLink(header, base)).toBeUndefined()
  })

  it('gives a URL or nothing for any header text, never a throw', () => {
    const piece = fc.oneof(
      fc.string(),
      fc.constantFrom('<', '>', ';', ',', '"', '\\', '=', ' ', 'rel', 'next', 'rel="next"'),
      fc.webUrl()
    )
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), parts => {
        const url = nextLink(parts.join(''), base)
        expect(url === undefined || url instanceof URL).toBe(true)
      }),
      { numRuns: 2000 }
    )
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), s => {
        const url = nextLink(s, base)
        expect(url === undefined || url instanceof URL).toBe(true)
      }),
      { numRuns: 2000 }
    )
  })

  it('finds any web URL named as next, however the header is spaced and quoted', () => {
    fc.assert(
      fc.property(
        fc.webUrl({ withQueryParameters: true }),
        fc.constantFrom('rel="next"', 'rel=next', 'REL="prev next"', 'rel = "next" '),
        fc.constantFrom('', ' ', '\t'),
        (url, rel, sp) => {
          const found = nextLink(`</other>; rel="prev",${sp}<${url}>${sp};${sp}${rel}`, base)
          expect(found?.href).toBe(new URL(url).href)
        }
      )
    )
  })
})
