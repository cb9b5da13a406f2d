/**
 * The bundle ships libdeflate compiled to WebAssembly, which no package in node_modules stands
 * for, so ncc --license cannot list it: `npm run package` appends its MIT licence, and that of
 * the wasi-libc parts linked into it, to dist/licenses.txt. scripts/test.sh rebuilds dist/ before the tests.
 */
import { describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs'
import * as path from 'node:path'

const root = path.resolve(import.meta.dirname, '..', '..')
const read = (...parts: string[]) => fs.readFileSync(path.join(root, ...parts))

describe('the bundled libdeflate.wasm', () => {
  it("is listed once in dist/licenses.txt with libdeflate's MIT licence, as ncc lists a package", () => {
    const licenses = read('dist', 'licenses.txt').toString('utf8')
    const licence = read('src', 'codec', 'wasm', 'LICENSE').toString('utf8')
    expect(licence).toMatch(/^Copyright 2016 Eric Biggers\n\nPermission is hereby granted/)
    const entry = `\n\nlibdeflate\nMIT\n${licence}`
    expect(licenses.split(entry)).toHaveLength(2)
    // ncc's own entries are still there, ahead of it
    expect(licenses).toMatch(/^@actions\/core\nMIT\n/)
    expect(licenses.indexOf(entry)).toBeGreaterThan(0)
  })

  it("lists the wasi-libc linked into it (malloc, memcpy, memset) with its package's copyright file", () => {
    const licenses = read('dist', 'licenses.txt').toString('utf8')
    const licence = read('src', 'codec', 'wasm', 'LICENSE.wasi-libc').toString('utf8')
    expect(licence).toMatch(/^Format: .*\nUpstream-Name: wasi-libc\n/)
    // dlmalloc falls under wasi-libc's own CC0-1.0, memcpy, memset and strlen under musl's MIT
    expect(licence).toMatch(/Files: \*\n[^]*?License: CC0-1\.0/)
    expect(licence).toMatch(/Files: libc-top-half\/musl\/\*\n[^]*?License: MIT/)
    const entry = `\n\nwasi-libc\nCC0-1.0 AND MIT\n${licence}`
    expect(licenses.split(entry)).toHaveLength(2)
    expect(licenses.endsWith(entry)).toBe(true)
    expect(read('src', 'codec', 'wasm', 'SOURCE').toString('utf8')).toContain('LICENSE.wasi-libc')
  })

  it('is the committed module, in both bundles', () => {
    const committed = read('src', 'codec', 'wasm', 'libdeflate.wasm')
    expect(read('dist', 'libdeflate.wasm').equals(committed)).toBe(true)
    expect(read('dist', 'cli', 'libdeflate.wasm').equals(committed)).toBe(true)
    // and the one they read: a module left to webpack comes out renamed (and broken)
    for (const bundle of [
      ['dist', 'index.js'],
      ['dist', 'cli', 'index.js']
    ]) {
      const code = read(...bundle).toString('utf8')
      expect(code).toContain('libdeflate.wasm')
      expect(code).not.toMatch(/"[0-9a-f]{20}\.wasm"/)
    }
  })
})
