/**
 * Conformance against the image-spec schema test cases (../shared/oci-corpus): every document must
 * get the verdict its upstream test expects from the document-level rules, or the difference must
 * be explained in docs/rules.md.
 */
import { describe, it, expect } from '@jest/globals'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { validateDocument, type DocumentKind } from '../../src/validate/index.js'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const corpus = path.resolve(repoRoot, '../shared/oci-corpus')
const present = fs.existsSync(path.join(corpus, 'index.tsv'))
if (!present)
  console.log(`corpus test skipped: ${corpus}/index.tsv does not exist (CI provides ../shared)`)

const KINDS: Record<string, DocumentKind | undefined> = {
  'application/vnd.oci.image.manifest.v1+json': 'manifest',
  'application/vnd.oci.image.index.v1+json': 'index',
  'application/vnd.oci.image.config.v1+json': 'config',
  'application/vnd.oci.descriptor.v1+json': 'content-descriptor',
  'application/vnd.oci.layout.header.v1+json': 'layout'
}

/** File names listed in the "Corpus differences" section of docs/rules.md. */
function explainedDifferences(): Set<string> {
  const doc = fs.readFileSync(path.join(repoRoot, 'docs/rules.md'), 'utf8')
  const section = doc.split(/^## /m).find(s => s.startsWith('Corpus differences')) ?? ''
  return new Set([...section.matchAll(/`([a-z-]+-\d\d\.json)`/g)].map(m => m[1]))
}

;(present ? describe : describe.skip)('OCI image-spec corpus', () => {
  it('gives each document the verdict its test expects', () => {
    const rows = fs
      .readFileSync(path.join(corpus, 'index.tsv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map(l => l.split('\t'))
    expect(rows.length).toBeGreaterThan(80)
    const explained = explainedDifferences()
    let agree = 0
    const unexplained: string[] = []
    for (const [file, , , , expected, mediaType] of rows) {
      const kind = KINDS[mediaType]
      if (!kind) throw new Error(`${file}: unknown validator media type ${mediaType}`)
      const findings = validateDocument(kind, fs.readFileSync(path.join(corpus, file)), file)
      const verdict = findings.some(f => f.severity === 'error') ? 'invalid' : 'valid'
      if (verdict === expected) {
        agree++
        continue
      }
      const line = `${file}: expected ${expected}, got ${verdict} [${findings.map(f => `${f.severity} ${f.rule}`).join(', ')}]`
      console.log(
        `corpus difference ${explained.has(file) ? '(explained in docs/rules.md)' : '(UNEXPLAINED)'}: ${line}`
      )
      if (!explained.has(file)) unexplained.push(line)
    }
    console.log(`corpus agreement: ${agree}/${rows.length}`)
    expect(unexplained).toEqual([])
  })
})
