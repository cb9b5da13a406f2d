import { Transform, type Readable } from 'node:stream'
import { LadingError, messageOf } from '../util/errors.js'
import { verifyContent } from '../oci/digest.js'
import { MAX_DOCUMENT_BYTES } from '../oci/limits.js'
import type { Descriptor } from '../oci/types.js'
import type { RegistryClient } from './client.js'
import { RetryableError } from './errors.js'
import { contentLength, drain, readDocument, type HttpResponse } from './http.js'
import { withRetry } from './retry.js'

export interface BlobTarget {
  client: RegistryClient
  repository: string
  scopes: string[]
  /**
   * PATCH chunk size; when set, blobs up to it go in one PUT and larger ones in chunks. Unset:
   * DEFAULT_WHOLE_MAX and DEFAULT_CHUNK_SIZE.
   */
  chunkSize?: number
}

/** `registry/repository`, for messages. */
export function blobName(t: BlobTarget): string {
  return `${t.client.registry}/${t.repository}`
}

export async function blobExists(t: BlobTarget, digest: string): Promise<boolean> {
  const res = await t.client.request({
    method: 'HEAD',
    path: `${t.repository}/blobs/${digest}`,
    scopes: t.scopes,
    expect: [200, 404],
    what: `HEAD blob ${digest} in ${blobName(t)}`,
    repository: t.repository
  })
  await drain(res)
  return res.status === 200
}

function requestBlob(
  t: BlobTarget,
  desc: Descriptor,
  what: string,
  transfer: boolean
): Promise<HttpResponse> {
  return t.client.request({
    method: 'GET',
    path: `${t.repository}/blobs/${desc.digest}`,
    scopes: t.scopes,
    expect: [200],
    what,
    repository: t.repository,
    transfer
  })
}

/**
 * Streams a blob, following redirects (credentials are not sent to another host), held to the
 * minimum rate. The stream ends with an error as soon as the registry sends more than the
 * descriptor's size (that chunk is not passed on, so nothing downstream writes more than
 * declared), or when it ends short of it.
 */
export async function getBlob(t: BlobTarget, desc: Descriptor): Promise<Readable> {
  const what = `GET blob ${desc.digest} (${desc.size} bytes) from ${blobName(t)}`
  const res = await requestBlob(t, desc, what, true)
  const stated = contentLength(res)
  if (stated !== undefined && stated !== desc.size) {
    res.body.destroy()
    throw new LadingError(
      `${what}: the registry states ${stated} bytes (Content-Length), not the ${desc.size} ` +
        'its descriptor says; the registry holds something else under this digest'
    )
  }
  return bounded(res.body, desc.size, what)
}

/** `body`, failing once it passes `size` bytes or ends short of it. */
function bounded(body: Readable, size: number, what: string): Readable {
  let got = 0
  const bound = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      got += chunk.length
      if (got > size)
        return cb(
          new LadingError(
            `${what}: the registry sent more than the ${size} bytes its descriptor says ` +
              `(${got} when Lading stopped reading); the registry is broken or hostile`
          )
        )
      cb(null, chunk)
    },
    flush(cb) {
      if (got === size) return cb()
      cb(
        new LadingError(
          `${what}: the registry sent ${got} bytes, not the ${size} its descriptor says`
        )
      )
    }
  })
  body.on('error', err =>
    bound.destroy(
      err instanceof LadingError
        ? err
        : new LadingError(
            `${what}: the download broke after ${got} of ${size} bytes (${messageOf(err)})`
          )
    )
  )
  // A consumer that stops reading (or a failure) releases the connection.
  bound.on('close', () => body.destroy())
  return body.pipe(bound)
}

/**
 * A whole document (a config) by digest, verified against its descriptor, never read past the
 * descriptor's size nor MAX_DOCUMENT_BYTES.
 */
export async function readBlob(t: BlobTarget, desc: Descriptor): Promise<Buffer> {
  const what = `blob ${desc.digest} from ${blobName(t)}`
  if (desc.size > MAX_DOCUMENT_BYTES)
    throw new LadingError(
      `${what}: its descriptor says ${desc.size} bytes, more than the ${MAX_DOCUMENT_BYTES}-byte ` +
        'limit on documents (MAX_DOCUMENT_BYTES) that Lading reads; it was not fetched'
    )
  return withRetry(
    `GET ${what}`,
    async () => {
      const res = await requestBlob(t, desc, `GET ${what}`, false)
      let data: Buffer
      try {
        data = await readDocument(res, what, desc.size)
      } catch (err) {
        if (err instanceof LadingError) throw err
        throw new RetryableError(`reading ${what}: ${messageOf(err)}`)
      }
      verifyContent(data, desc.digest, desc.size, what)
      return data
    },
    t.client.policy,
    t.client.log
  )
}
