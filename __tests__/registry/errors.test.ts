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
})
