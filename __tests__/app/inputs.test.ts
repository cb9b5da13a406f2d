import { describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs'
import { INPUT_DEFAULTS, inputsFromEnv, parseBool, parseList } from '../../src/app/inputs.js'

/** action.yml's inputs and defaults, read with a line parser (the file is plain YAML we own). */
function actionYmlInputs(): Record<string, string> {
  const text = fs.readFileSync(new URL('../../action.yml', import.meta.url), 'utf8')
  const section = text.split(/^inputs:\n/m)[1].split(/^outputs:/m)[0]
  const out: Record<string, string> = {}
  let current = ''
  for (const line of section.split('\n')) {
    const name = /^ {2}([a-z-]+):\s*$/.exec(line)
    if (name) current = name[1]
    const def = /^ {4}default: '(.*)'\s*$/.exec(line)
    if (def && current) out[current] = def[1].replace(/''/g, "'")
  }
  return out
}

describe('action inputs', () => {
  it('the code applies exactly the defaults action.yml declares, for every input', () => {
    expect(INPUT_DEFAULTS).toEqual(actionYmlInputs())
  })

  it('reads INPUT_* variables with hyphens kept and applies defaults to absent ones', () => {
    const raw = inputsFromEnv({
      'INPUT_FAIL-ON': 'warning',
      INPUT_LAYERS: 'dist:/app',
      INPUT_COMPRESSION: '  '
    })
    expect(raw['fail-on']).toBe('warning')
    expect(raw.layers).toBe('dist:/app')
    expect(raw.compression).toBe('gzip')
    expect(raw.from).toBe('scratch')
    expect(raw['ref-name']).toBe('latest')
    // ${{ github.token }} only the runner can expand
    expect(raw['github-token']).toBe('')
  })

  it('splits lists on lines, ignoring blanks and spaces, and on commas when asked', () => {
    expect(parseList('\n a \n\n b\r\n')).toEqual(['a', 'b'])
    expect(parseList('linux/amd64, linux/arm64\nlinux/arm/v7', { commas: true })).toEqual([
      'linux/amd64',
      'linux/arm64',
      'linux/arm/v7'
    ])
    expect(parseList('k=a,b')).toEqual(['k=a,b'])
  })

  it('parses booleans and names the input on a bad one', () => {
    expect(parseBool('push', 'TRUE')).toBe(true)
    expect(parseBool('push', 'false')).toBe(false)
    expect(() => parseBool('push', 'maybe')).toThrow('push: "maybe" is not true or false')
  })
})
