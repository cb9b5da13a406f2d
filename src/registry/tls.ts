import { LadingError, messageOf } from '../util/errors.js'
import { registryApiHost } from '../oci/reference.js'

const TLS_TRUST_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REVOKED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH'
])

/**
 * A TLS handshake that failed: the same answer on every attempt, so it is not retried. Returns
 * the user's error, or undefined when `err` is something else.
 */
export function tlsFailure(err: unknown, url: URL, registry: string): LadingError | undefined {
  if (url.protocol !== 'https:') return undefined
  const e = err as NodeJS.ErrnoException | undefined
  const code = e?.code ?? ''
  const msg = messageOf(err)
  const own = url.host === registryApiHost(registry)
  const who = own ? `the registry ${url.host}` : `${url.host} (reached from ${registry})`
  if (
    code === 'EPROTO' ||
    code.startsWith('ERR_SSL_') ||
    /wrong version number|packet length too long|unknown protocol|http request/i.test(msg)
  )
    return new LadingError(
      `the TLS handshake with ${who} failed (${msg.replace(/\s+/g, ' ').slice(0, 160)}): ` +
        (own
          ? `is this registry plain HTTP? list it in insecure-registries (${url.host}) to use http://`
          : 'it does not speak TLS on that port')
    )
  if (TLS_TRUST_CODES.has(code) || /certificate|self[- ]signed/i.test(msg))
    return new LadingError(
      `the certificate of ${who} is not trusted (${code || msg}): ` +
        'install its CA in the system trust store and set NODE_EXTRA_CA_CERTS to its file' +
        (own ? `, or list ${url.host} in insecure-registries to use plain http://` : '')
    )
  return undefined
}
