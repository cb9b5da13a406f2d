import { describe, expect, it } from '@jest/globals'
import { parseCommand, shellWords } from '../../src/app/words.js'

describe('commands', () => {
  it('splits as a shell does, without expansion', () => {
    expect(shellWords(`sh -c "echo \\"hi\\" \\$HOME" 'a b' c\\ d`, 'cmd')).toEqual([
      'sh',
      '-c',
      'echo "hi" $HOME',
      'a b',
      'c d'
    ])
    expect(shellWords('  ', 'cmd')).toEqual([])
    expect(shellWords('""', 'cmd')).toEqual([''])
  })
  it('takes a JSON array as is', () => {
    expect(parseCommand('["/app/server", "--port", "8080"]', 'entrypoint')).toEqual([
      '/app/server',
      '--port',
      '8080'
    ])
  })
  it('names the input on a bad value', () => {
    expect(() => parseCommand('["a", 1]', 'entrypoint')).toThrow(
      /^entrypoint: .* JSON array of strings/
    )
    expect(() => parseCommand('[oops', 'cmd')).toThrow(/^cmd: .*not a JSON array/)
    expect(() => parseCommand('echo "unterminated', 'cmd')).toThrow(/^cmd: unterminated " quote/)
  })
})
