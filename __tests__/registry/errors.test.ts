import { describe, expect, it } from '@jest/globals'
import { registryError } from '../../src/registry/errors.js'

describe('error messages', () => {
  const ctx = {
    registry: 'ghcr.io',
    repository: 'o/r',
    what: 'PUT manifest ghcr.io/o/r:1',
    credentialSource: 'the github-token input'
  }
  it('say which registry refused which credentials, and the GHCR permission', () => {
    const m = registryError(
      401,
      '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
      ctx
    ).message
    expect(m).toContain(
      'PUT manifest ghcr.io/o/r:1 failed: 401 UNAUTHORIZED: authentication required'
    )
    expect(m).toContain('ghcr.io did not accept the credentials from the github-token input')
    expect(m).toContain('packages: write')
    expect(registryError(403, '{"errors":[{"code":"DENIED"}]}', ctx).message).toContain(
      'denied access to ghcr.io/o/r'
    )
    expect(registryError(404, '{"errors":[{"code":"NAME_UNKNOWN"}]}', ctx).message).toContain(
      'does not exist'
    )
    expect(registryError(429, '{"errors":[{"code":"TOOMANYREQUESTS"}]}', ctx, 6).message).toContain(
      'rate-limiting requests (still after 6 attempts)'
    )
    expect(registryError(401, '', { ...ctx, registry: 'quay.io' }).message).not.toContain(
      'packages: write'
    )
  })

  it("quote the registry's answer on one line and in bounds, whatever it holds", () => {
    const errors = Array.from({ length: 1000 }, (_, i) => ({
      code: i ? `CODE_${i}` : 'DENIED',
      message: `line one\n::error::two ${'x'.repeat(5000)}`
    }))
    const m = registryError(403, JSON.stringify({ errors }), ctx).message
    const head = m.slice(0, m.indexOf('. '))
    expect(head).toMatch(
      /^PUT manifest ghcr.io\/o\/r:1 failed: 403 DENIED: line one\\n::error::two x+…; CODE_1: /
    )
    expect(head).toMatch(/; CODE_4: line one\\n::error::two x+… and 995 more$/)
    expect(m).not.toContain('\n')
    expect(m.length).toBeLessThan(2000)
    // A body that is not the spec's JSON: its start, its white space folded.
    const html = registryError(502, `<html>\n<body>${'y'.repeat(10_000)}</body>`, ctx).message
    expect(html).toContain(`failed: 502 <html> <body>${'y'.repeat(187)}…`)
    expect(html.length).toBeLessThan(1000)
  })
})
