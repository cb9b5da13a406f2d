/** Untrusted text in messages and logs: escaped, bounded, and never a workflow command. */
import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { clipped, commandFree, escapedLine, listed } from '../../src/util/listing.js'
import { hasCommandLine as commandLine } from '../helpers/command-injection.js'

// eslint-disable-next-line no-control-regex -- control characters are what is checked
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/
// eslint-disable-next-line no-control-regex -- the same, but for newline and tab
const CONTROL_BUT_LINES = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/

describe('listed', () => {
  it('lists up to its bound, then says how many more', () => {
    expect(listed([])).toBe('')
    expect(listed(['a', 'b'])).toBe('a, b')
    const ten = Array.from({ length: 10 }, (_, i) => `n${i}`)
    expect(listed(ten)).toBe(ten.join(', '))
    expect(listed([...ten, 'x', 'y'])).toBe(`${ten.join(', ')} and 2 more`)
    expect(listed(['a', 'b', 'c'], 2)).toBe('a, b and 1 more')
    expect(listed(['a', 'b', 'c'], 2, '; ')).toBe('a; b and 1 more')
    expect(clipped('abc', 3)).toBe('abc')
    expect(clipped('abcd', 3)).toBe('abc…')
  })
})

describe('escapedLine', () => {
  it('writes control characters as escapes, and leaves the rest', () => {
    expect(escapedLine('a\nb\r\tc\u001b[2J\u0085é')).toBe('a\\nb\\r\\tc\\u001b[2J\\u0085é')
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), s => {
        const out = escapedLine(s)
        expect(out).not.toMatch(CONTROL)
        if (!CONTROL.test(s)) expect(out).toBe(s)
      })
    )
  })
})

describe('commandFree', () => {
  it('keeps a log text its lines, and makes none a workflow command', () => {
    expect(commandFree('left out x (config a\n::error::pwned)')).toBe(
      'left out x (config a\n\\u003a:error::pwned)'
    )
    expect(commandFree('::add-mask::x')).toBe('\\u003a:add-mask::x')
    expect(commandFree('a\n  \t::stop-commands::t')).toBe('a\n  \t\\u003a:stop-commands::t')
    // A carriage return is a line break to the runner, and overwrites a line on a terminal.
    expect(commandFree('a\r::error::x')).toBe('a\\r::error::x')
    expect(commandFree('a \u001b[1A b')).toBe('a \\u001b[1A b')
    // What is not at a line's start is left, as is every ordinary line.
    expect(commandFree('copying a::b\n\tdone')).toBe('copying a::b\n\tdone')
  })

  it('leaves no line a command, whatever the text holds', () => {
    const pieces = fc.oneof(
      fc.string({ unit: 'binary' }),
      fc.constantFrom(
        ...['::', '\n', '\r', '\r\n', ' ', '\t', '\u2028', '::error::', '\u000b', '\f'],
        ...['\u00a0', '\u1680', '\u2003', '\u202f', '\u3000', '\ufeff']
      )
    )
    fc.assert(
      fc.property(fc.array(pieces, { maxLength: 20 }), parts => {
        const text = parts.join('')
        const out = commandFree(text)
        expect(commandLine(out)).toBe(false)
        // Its lines are the text's own: a newline more or less would move what follows.
        expect(out.split('\n')).toHaveLength(text.split('\n').length)
        if (!CONTROL_BUT_LINES.test(text) && !commandLine(text)) expect(out).toBe(text)
      })
    )
  })
})
