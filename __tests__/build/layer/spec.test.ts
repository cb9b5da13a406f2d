import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { parseLayerSpec } from '../../../src/build/layer/index.js'
import { LadingError } from '../../../src/util/errors.js'

const runs = { seed: 20240229, numRuns: 500 }

describe('parseLayerSpec', () => {
  it.each([
    ['dist', { source: 'dist', spec: 'dist' }],
    ['dist:/app', { source: 'dist', dest: '/app', spec: 'dist:/app' }],
    ['  dist:/  ', { source: 'dist', dest: '/', spec: 'dist:/' }],
    ['a:b:/srv/x', { source: 'a:b', dest: '/srv/x', spec: 'a:b:/srv/x' }],
    ['out/app.tar.gz', { source: 'out/app.tar.gz', spec: 'out/app.tar.gz' }]
  ])('%j', (line, expected) => {
    expect(parseLayerSpec(line)).toEqual(expected)
  })

  it.each([
    ['dist:app', /^layers: "dist:app": DEST "app" must be an absolute path/],
    ['dist:', /^layers: "dist:": DEST "" must be an absolute path/],
    [':/app', /^layers: ":\/app": SOURCE is empty/],
    ['   ', /^layers: an empty line/]
  ])('rejects %j', (line, re) => {
    expect(() => parseLayerSpec(line)).toThrow(LadingError)
    expect(() => parseLayerSpec(line)).toThrow(re)
  })
})

describe('parseLayerSpec of Windows sources: a drive letter is part of SOURCE', () => {
  it.each([
    ['C:/x', { source: 'C:/x' }],
    ['C:\\dist', { source: 'C:\\dist' }],
    ['c:/', { source: 'c:/' }],
    ['C:/x:/app', { source: 'C:/x', dest: '/app' }],
    ['C:\\dist\\app:/app/app', { source: 'C:\\dist\\app', dest: '/app/app' }],
    ['d:\\out\\app.tar.gz', { source: 'd:\\out\\app.tar.gz' }],
    ['D:/a:b:/srv', { source: 'D:/a:b', dest: '/srv' }],
    ['C:\\Program Files\\app:/opt/app', { source: 'C:\\Program Files\\app', dest: '/opt/app' }],
    ['C:/out/${TARGETARCH}', { source: 'C:/out/${TARGETARCH}' }],
    [
      'C:\\out\\${TARGETOS}-${TARGETARCH}:/app',
      { source: 'C:\\out\\${TARGETOS}-${TARGETARCH}', dest: '/app' }
    ]
  ])('%j', (line, expected) => {
    expect(parseLayerSpec(line)).toEqual({ ...expected, spec: line })
  })

  it('reads one letter, a colon and a slash as a drive; a one-letter directory is ./a', () => {
    expect(parseLayerSpec('a:/app')).toEqual({ source: 'a:/app', spec: 'a:/app' })
    expect(parseLayerSpec('./a:/app')).toEqual({ source: './a', dest: '/app', spec: './a:/app' })
    expect(parseLayerSpec('ab:/app')).toEqual({ source: 'ab', dest: '/app', spec: 'ab:/app' })
  })

  it('keeps --chown and --chmod in front of a drive letter', () => {
    const line = '--chown=65532:65532 --chmod=0755 C:\\dist\\${TARGETARCH}\\app.exe:/app/app'
    expect(parseLayerSpec(line)).toEqual({
      source: 'C:\\dist\\${TARGETARCH}\\app.exe',
      dest: '/app/app',
      spec: line,
      chown: { uid: 65532, gid: 65532 },
      chmod: 0o755
    })
    expect(parseLayerSpec('--chmod=0644 C:/x')).toEqual({
      source: 'C:/x',
      spec: '--chmod=0644 C:/x',
      chmod: 0o644
    })
  })

  it.each([
    // a relative DEST after a drive-letter SOURCE is still refused, with a DEST that would do
    [
      'C:\\dist:app',
      /^layers: "C:\\dist:app": DEST "app" must be an absolute path in the image, e\.g\. C:\\dist:\/app$/
    ],
    // a letter and a colon without a separator is not a drive: "C" with DEST ""
    ['C:', /^layers: "C:": DEST "" must be an absolute path/],
    // two letters are not a drive
    ['CD:\\x', /^layers: "CD:\\x": DEST "\\x" must be an absolute path/],
    ['C:/x:/${NOPE}', /\$\{NOPE\} is not a variable Lading knows/]
  ])('rejects %j', (line, re) => {
    expect(() => parseLayerSpec(line)).toThrow(LadingError)
    expect(() => parseLayerSpec(line)).toThrow(re)
  })
})

describe('parseLayerSpec properties', () => {
  const char = fc.constantFrom(...'abzAZ09._-~@+ ')
  const segment = fc
    .array(char, { minLength: 1, maxLength: 8 })
    .map(cs => cs.join(''))
    .filter(s => s.trim() === s)
  const variable = fc.constantFrom(
    '${TARGETARCH}',
    '${TARGETOS}',
    '${TARGETPLATFORM}',
    '${TARGETVARIANT}'
  )
  const part = fc.oneof({ weight: 4, arbitrary: segment }, { weight: 1, arbitrary: variable })
  /** A relative or Windows path: no ':' past its drive, so it needs no DEST to be read whole. */
  const source = fc
    .tuple(
      fc.option(fc.tuple(fc.constantFrom(...'aCdZ'), fc.constantFrom('/', '\\')), {
        nil: undefined
      }),
      fc.array(part, { minLength: 1, maxLength: 4 }),
      fc.constantFrom('/', '\\')
    )
    .map(([drive, parts, sep]) => (drive ? `${drive[0]}:${drive[1]}` : '') + parts.join(sep))
    // A one-letter directory before a DEST reads as a drive: it is written ./a
    .map(s => (/^[A-Za-z]$/.test(s) ? `./${s}` : s))
    .filter(s => !s.startsWith('-'))
  const dest = fc.array(part, { maxLength: 4 }).map(parts => '/' + parts.join('/'))
  const flags = fc
    .tuple(
      fc.option(fc.constantFrom('--chown=1000', '--chown=0:0', '--chown=65532:65532'), {
        nil: undefined
      }),
      fc.option(fc.constantFrom('--chmod=0755', '--chmod=644'), { nil: undefined })
    )
    .map(fs => fs.filter(f => f !== undefined))

  it('reads back any SOURCE and DEST, with or without a drive letter, flags and variables', () => {
    fc.assert(
      fc.property(flags, source, fc.option(dest, { nil: undefined }), (fl, src, dst) => {
        const line = [...fl, dst === undefined ? src : `${src}:${dst}`].join(' ')
        const l = parseLayerSpec(line)
        expect(l.source).toBe(src)
        expect(l.dest).toBe(dst)
        expect(l.chown !== undefined).toBe(fl.some(f => f.startsWith('--chown')))
        expect(l.chmod !== undefined).toBe(fl.some(f => f.startsWith('--chmod')))
      }),
      runs
    )
  })

  it('throws nothing but a LadingError naming the input, whatever the line', () => {
    let refused = 0
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom(...'aC:/\\.- ${}TARGETARCH-=0755chownmod') }),
        line => {
          try {
            parseLayerSpec(line)
          } catch (err) {
            refused++
            expect(err).toBeInstanceOf(LadingError)
            expect((err as Error).message).toMatch(/^layers: /)
          }
        }
      ),
      runs
    )
    // The lines reached the refusals: the checks in the catch ran.
    expect(refused).toBeGreaterThan(runs.numRuns / 10)
  })
})
