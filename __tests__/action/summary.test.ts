import { describe, it, expect, jest } from '@jest/globals'
import { annotate, mdCode, mdText, summaryMarkdown } from '../../src/action/summary.js'
import type { RunResult } from '../../src/app/result.js'
import { makeReport } from '../../src/validate/index.js'
import type { Report } from '../../src/validate/index.js'

const HOSTILE =
  'x\n## pwned\n| x |\r\n<img src=x onerror=alert(1)>`code` **b** [l](http://e)\u2028- item'

/** A result and a report whose every field from the image or the inputs is `value`. */
function render(value: string): string {
  const result: RunResult = {
    digest: `sha256:${value}`,
    mediaType: value,
    size: 1,
    platforms: [value, 'linux/amd64'],
    images: [
      {
        platform: value,
        digest: value,
        configDigest: value,
        layers: [{ mediaType: value, digest: `sha256:${value}`, size: 3 }],
        source: value
      }
    ],
    layout: value,
    archive: value,
    imageRefs: [value],
    imageName: value,
    report: { valid: true, errors: 0, warnings: 0, findings: [] },
    notDownloaded: [],
    fromCache: [{ digest: `sha256:${value}`, image: value }],
    attached: [],
    dropped: []
  }
  const report: Report = {
    valid: false,
    errors: 1,
    warnings: 1,
    findings: [
      {
        rule: 'annotations-type',
        severity: 'error',
        location: value,
        message: value,
        spec: 'https://s'
      },
      {
        rule: 'blob-missing',
        severity: 'warning',
        location: value,
        message: value,
        spec: 'https://s'
      }
    ]
  }
  return summaryMarkdown(result, report)
}

/** The `|` that split a table row: those not escaped with a backslash. */
function cellSeparators(line: string): number {
  return line.match(/(?<!\\)\|/g)?.length ?? 0
}

describe('summaryMarkdown', () => {
  it('keeps hostile text from the image and the inputs inside its line and its cell', () => {
    const benign = render('plain').split('\n')
    const hostile = render(HOSTILE).split('\n')
    // No line break got through: the same lines, the same headings, the same table shapes.
    expect(hostile).toHaveLength(benign.length)
    hostile.forEach((line, i) => {
      expect(line.startsWith('#')).toBe(benign[i].startsWith('#'))
      expect(line.startsWith('|')).toBe(benign[i].startsWith('|'))
      expect(line.startsWith('- ')).toBe(benign[i].startsWith('- '))
      if (line.startsWith('|')) expect(cellSeparators(line)).toBe(cellSeparators(benign[i]))
    })
    const text = hostile.join('\n')
    expect(text).not.toMatch(/<img/)
    expect(text).not.toMatch(/\n## pwned/)
    expect(text).not.toMatch(/(?<!\\)\*\*b(?<!\\)\*\*/)
  })

  it('escapes text so that it renders as itself', () => {
    expect(mdText('a|b\nc')).toBe('a\\|b c')
    expect(mdText('<b>&')).toBe('&lt;b&gt;&amp;')
    expect(mdText('[l](u) *e* _u_ `c` # h')).toBe('\\[l\\]\\(u\\) \\*e\\* \\_u\\_ \\`c\\` \\# h')
    expect(mdText('back\\slash')).toBe('back\\\\slash')
  })

  it('puts only text that needs no escaping in code spans', () => {
    expect(mdCode('sha256:abc')).toBe('`sha256:abc`')
    expect(mdCode('a`b')).toBe('a\\`b')
    expect(mdCode('a|b')).toBe('a\\|b')
    expect(mdCode('<b>')).toBe('&lt;b&gt;')
    expect(mdCode('a\nb')).toBe('a b')
  })
})

describe('annotate', () => {
  it('writes one workflow command per finding, whatever line breaks the finding holds', () => {
    const lines: string[] = []
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(((s: string) => {
      lines.push(String(s))
      return true
    }) as never)
    annotate({
      valid: false,
      errors: 1,
      warnings: 1,
      findings: [
        {
          rule: 'r1',
          severity: 'error',
          location: HOSTILE,
          message: '\n::error::forged',
          spec: 's'
        },
        { rule: 'r2', severity: 'warning', location: 'l', message: 'a\r\nb', spec: 's' }
      ]
    })
    write.mockRestore()
    const out = lines.join('')
    const commands = out.split('\n').filter(l => l !== '')
    expect(commands).toHaveLength(2)
    expect(commands[0]).toMatch(/^::error title=r1::/)
    expect(commands[1]).toMatch(/^::warning title=r2::l: a b \(s\)$/)
    expect(out).not.toMatch(/%0A|%0D/)
  })
})

const D = 'sha256:' + 'a'.repeat(64)
const A = 'sha256:' + 'b'.repeat(64)

describe('summaryMarkdown, attachments', () => {
  it('names the attached artifacts and each attestation dropped', () => {
    const report = makeReport([])
    const r: RunResult = {
      digest: D,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      size: 100,
      platforms: [],
      images: [],
      imageRefs: [],
      imageName: '',
      report,
      notDownloaded: [],
      attached: [A],
      dropped: ['dropped attestation x of oci:a|b: it describes y, which was rebuilt as z']
    }
    const md = summaryMarkdown(r, report)
    expect(md).toContain(`- **Attached:** \`${A}\``)
    expect(md).toContain(
      '- **Attestation dropped:** dropped attestation x of oci\\:a\\|b\\: it describes y'
    )
  })
})

describe('summaryMarkdown, cache-from', () => {
  const C = 'sha256:' + 'c'.repeat(64)
  const result = (fromCache: RunResult['fromCache'], notDownloaded: string[] = []): RunResult => ({
    digest: D,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    size: 100,
    platforms: ['linux/amd64'],
    images: [],
    imageRefs: [],
    imageName: '',
    report: makeReport([]),
    notDownloaded,
    fromCache,
    attached: [],
    dropped: []
  })

  it('says which layers were taken from which cache image, grouped by image', () => {
    const md = summaryMarkdown(
      result(
        [
          { digest: A, image: 'ghcr.io/o/app:latest' },
          { digest: C, image: 'oci:./prev' },
          { digest: D, image: 'ghcr.io/o/app:latest' }
        ],
        [A, D]
      ),
      makeReport([])
    )
    const lines = md.split('\n').filter(l => l.startsWith('- **From the cache:**'))
    expect(lines).toEqual([
      `- **From the cache:** 2 layer(s) taken from \`ghcr.io/o/app:latest\`, not built again: \`${A.slice(0, 19)}…\`, \`${D.slice(0, 19)}…\``,
      `- **From the cache:** 1 layer(s) taken from \`oci:./prev\`, not built again: \`${C.slice(0, 19)}…\``
    ])
    expect(md).toContain('- **Not downloaded:** 2 layer(s) of a base image or the cache')
  })

  it('says nothing of the cache when no layer came from it', () => {
    expect(summaryMarkdown(result([]), makeReport([]))).not.toContain('From the cache')
    expect(summaryMarkdown(result(undefined), makeReport([]))).not.toContain('From the cache')
  })
})
