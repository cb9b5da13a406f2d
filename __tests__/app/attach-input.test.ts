import { describe, it, expect } from '@jest/globals'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { guessMediaType, parseAttach } from '../../src/app/attach-input.js'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lading-attach-'))
for (const f of ['sbom.spdx.json', 'bom.cdx.json', 'report.txt', 'a:b.bin'])
  fs.writeFileSync(path.join(dir, f), 'x')

describe('parseAttach', () => {
  it('takes PATH:TYPE, or guesses the type from the name', () => {
    expect(
      parseAttach('sbom.spdx.json:application/vnd.example+json\n\n  bom.cdx.json \nreport.txt', dir)
    ).toEqual([
      { path: path.join(dir, 'sbom.spdx.json'), mediaType: 'application/vnd.example+json' },
      { path: path.join(dir, 'bom.cdx.json'), mediaType: 'application/vnd.cyclonedx+json' },
      { path: path.join(dir, 'report.txt'), mediaType: 'text/plain' }
    ])
  })

  it('keeps a colon that is part of the path', () => {
    expect(parseAttach('a:b.bin', dir)).toEqual([
      { path: path.join(dir, 'a:b.bin'), mediaType: 'application/octet-stream' }
    ])
  })

  it('names a missing file, a directory and a type that is not one', () => {
    expect(() => parseAttach('nope.json', dir)).toThrow(
      /attach: "nope.json": the file .* does not exist/
    )
    expect(() => parseAttach('.', dir)).toThrow(/is not a regular file/)
    expect(() => parseAttach('report.txt:not a type', dir)).toThrow(/is not a media type/)
  })

  // On Linux `C:\…` is a relative name: what matters is which colon the line is split at.
  it('reads a Windows drive as part of the path, typed or not', () => {
    expect(() => parseAttach('C:\\out\\sbom.json', dir)).toThrow(
      /attach: "C:\\out\\sbom.json": the file .* does not exist/
    )
    expect(() => parseAttach('D:/out/sbom.json', dir)).toThrow(/the file .* does not exist/)
    expect(() => parseAttach('C:\\out\\sbom.json:application/json', dir)).toThrow(
      /attach: "C:\\out\\sbom.json:application\/json": the file .*C:\\out\\sbom.json does not exist/
    )
  })

  it('guesses by the longest known suffix', () => {
    expect(guessMediaType('x.intoto.jsonl')).toBe('application/vnd.in-toto+json')
    expect(guessMediaType('X.SPDX.JSON')).toBe('application/spdx+json')
    expect(guessMediaType('x.json')).toBe('application/json')
  })
})
