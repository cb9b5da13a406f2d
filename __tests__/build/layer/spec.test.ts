import { describe, expect, it } from '@jest/globals'
import { parseLayerSpec } from '../../../src/build/layer/index.js'
import { LadingError } from '../../../src/util/errors.js'

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
