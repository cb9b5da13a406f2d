/** `lading validate`: a readable report, exit status 1 on failure, `--format json`. */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as os from 'node:os'
import * as path from 'node:path'
import { createHash } from 'node:crypto'
import { cli } from '../helpers/cli.js'

let tmp: string
let good: string
let bad: string
let archive: string
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'lading-vcli-'))
  await fs.mkdir(path.join(tmp, 'src'))
  await fs.writeFile(path.join(tmp, 'src', 'a.txt'), 'a\n')
  good = path.join(tmp, 'good')
  archive = path.join(tmp, 'good.tar')
  const r = await cli(['build', '--layers', `${tmp}/src:/`, '--output', good, '--archive', archive])
  expect(r.code).toBe(0)
  // the same image with one byte of its layer changed
  bad = path.join(tmp, 'bad')
  await fs.cp(good, bad, { recursive: true })
  const manifest = JSON.parse(
    await fs.readFile(path.join(bad, 'blobs/sha256', r.out.digest.slice(7)), 'utf8')
  )
  const layer = path.join(bad, 'blobs/sha256', manifest.layers[0].digest.slice(7))
  const bytes = await fs.readFile(layer)
  bytes[bytes.length - 5] ^= 0xff
  await fs.writeFile(layer, bytes)
})
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true })
})

describe('lading validate', () => {
  it('passes a good layout, given as oci:DIR or as a bare directory, and an oci-archive', async () => {
    for (const source of [`oci:${good}`, good, `oci-archive:${archive}`]) {
      const r = await cli(['validate', source])
      expect(r.err).toBe('')
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/^valid: 0 errors, 0 warnings$/m)
    }
  })

  it('fails a corrupted layout with a readable finding naming the rule and the blob', async () => {
    const r = await cli(['validate', `oci:${bad}`])
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(
      /^error\s+blob-digest-mismatch\s+blobs\/sha256\/[0-9a-f]{12}… \(manifest\) layers\[0\]: /m
    )
    expect(r.stdout).toMatch(/^invalid: \d+ errors?, \d+ warnings?$/m)
  })

  it('prints the JSON report with --format json', async () => {
    const r = await cli(['validate', `oci:${bad}`, '--format', 'json'])
    expect(r.code).toBe(1)
    const report = JSON.parse(r.stdout)
    expect(report.valid).toBe(false)
    expect(report.errors).toBeGreaterThan(0)
    const f = report.findings.find((x: { rule: string }) => x.rule === 'blob-digest-mismatch')
    expect(f).toMatchObject({
      severity: 'error',
      spec: expect.stringMatching(
        /^https:\/\/github\.com\/opencontainers\/image-spec\/blob\/v1\.1\.1\//
      )
    })
  })

  it('reports everything wrong in an archive, and an unreadable one as a finding, in JSON', async () => {
    const tarball = path.join(tmp, 'bad.tar')
    const { execFileSync } = await import('node:child_process')
    execFileSync('tar', ['-cf', tarball, '-C', bad, '.'])
    const r = await cli(['validate', `oci-archive:${tarball}`, '--format', 'json'])
    expect(r.code).toBe(1)
    const report = JSON.parse(r.stdout)
    expect(report.findings.map((f: { rule: string }) => f.rule)).toContain('blob-digest-mismatch')
    const junk = path.join(tmp, 'junk.tar')
    await fs.writeFile(junk, Buffer.alloc(2048, 1))
    const j = await cli(['validate', `oci-archive:${junk}`, '--format', 'json'])
    expect(j.code).toBe(1)
    expect(JSON.parse(j.stdout)).toMatchObject({
      valid: false,
      findings: [{ rule: 'source-unreadable', location: `oci-archive:${junk}` }]
    })
  })

  it('exits 0 on a failing image with --fail-on never', async () => {
    const r = await cli(['validate', `oci:${bad}`, '--fail-on', 'never'])
    expect(r.code).toBe(0)
  })

  it.each([
    ['arrays', '['.repeat(10_000) + ']'.repeat(10_000)],
    ['objects', '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000)]
  ])(
    'reports a manifest of %s nested 10,000 deep as a finding, exit 1, no stack trace',
    async (_, text) => {
      const deep = path.join(tmp, `deep-${_}`)
      await fs.cp(good, deep, { recursive: true })
      const bytes = Buffer.from(text)
      const hex = createHash('sha256').update(bytes).digest('hex')
      await fs.writeFile(path.join(deep, 'blobs/sha256', hex), bytes)
      const index = JSON.parse(await fs.readFile(path.join(deep, 'index.json'), 'utf8'))
      index.manifests[0] = { ...index.manifests[0], digest: `sha256:${hex}`, size: bytes.length }
      await fs.writeFile(path.join(deep, 'index.json'), JSON.stringify(index))
      for (const source of [`oci:${deep}`, deep]) {
        const r = await cli(['validate', source])
        expect(r.code).toBe(1)
        expect(r.err).toBe('')
        expect(r.stdout).toMatch(
          new RegExp(
            `^error\\s+json-too-deep\\s+blobs/sha256/${hex.slice(0, 12)}… \\(manifest\\): nests arrays and objects 10000 levels deep, more than the 64 \\(MAX_JSON_DEPTH\\)`,
            'm'
          )
        )
        expect(r.stdout).toMatch(/^invalid: 1 error, 0 warnings$/m)
        expect(r.stdout + r.err).not.toMatch(/RangeError|call stack|\n\s+at /)
      }
      const j = await cli(['validate', `oci:${deep}`, '--format', 'json'])
      expect(j.code).toBe(1)
      expect(JSON.parse(j.stdout)).toMatchObject({
        valid: false,
        findings: [{ rule: 'json-too-deep', severity: 'error' }]
      })
    }
  )

  it('is a usage error without exactly one source, or with a bad format', async () => {
    expect((await cli(['validate'])).code).toBe(2)
    expect((await cli(['validate', good, '--format', 'xml'])).code).toBe(2)
    expect((await cli(['validate', good, '--fail-on', 'bogus'])).code).toBe(2)
    expect((await cli(['validate', good, '--output', 'x'])).code).toBe(2)
    const missing = await cli(['validate', `oci:${tmp}/nope`])
    expect(missing.code).toBe(1)
    expect(missing.err).toMatch(/nope/)
    expect(missing.err).not.toMatch(/\n\s+at /)
  })
})
