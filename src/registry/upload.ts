import type { Readable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { LadingError, messageOf } from '../util/errors.js'
import { HashingStream, parseDigest } from '../oci/digest.js'
import type { Descriptor } from '../oci/types.js'
import type { RegistryClient } from './client.js'
import { RegistryError, RetryableError } from './errors.js'
import { drain, header } from './http.js'
import { withRetry } from './retry.js'
import { blobName as name, type BlobTarget } from './blobs.js'

/**
 * Chunks are 4 MiB unless the registry asks for more: GHCR refuses a PATCH body above 4 MiB
 * (416 "exceeds the maximum permissible limit of 4.00MiB").
 */
export const DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024

/**
 * Blobs up to this size go in one streamed PUT, as containerd (and so BuildKit) pushes every
 * blob: one request instead of a PATCH per 4 MiB, nothing held in memory, and a failure costs at
 * most this much sent again. Larger blobs go in chunks that resume where a failure stopped them.
 */
export const DEFAULT_WHOLE_MAX = 256 * 1024 * 1024

export interface UploadSession {
  location: URL
  /** OCI-Chunk-Min-Length, when the registry states one. */
  minChunk?: number
}

export async function startUpload(t: BlobTarget): Promise<UploadSession> {
  const what = `POST blob upload to ${name(t)}`
  const res = await t.client.request({
    method: 'POST',
    path: `${t.repository}/blobs/uploads/`,
    scopes: t.scopes,
    expect: [202],
    what,
    repository: t.repository
  })
  await drain(res)
  return sessionOf(t, res, what)
}

function sessionOf(
  t: BlobTarget,
  res: Awaited<ReturnType<RegistryClient['request']>>,
  what: string
): UploadSession {
  const min = Number(header(res, 'oci-chunk-min-length'))
  return { location: t.client.locationOf(res, what), minChunk: min > 0 ? min : undefined }
}

/**
 * Asks the registry to link a blob it holds in `from` into the target repository. It answers 201
 * when it did, or 202 with an upload session when it could not (then the caller uploads there).
 */
export async function mountBlob(
  t: BlobTarget,
  digest: string,
  from: string
): Promise<{ mounted: true } | { mounted: false; session: UploadSession }> {
  const what = `mount blob ${digest} from ${from} into ${name(t)}`
  const url = new URL(`${t.repository}/blobs/uploads/`, t.client.base)
  url.searchParams.set('mount', digest)
  url.searchParams.set('from', from)
  const res = await t.client.request({
    method: 'POST',
    url,
    scopes: t.scopes,
    expect: [201, 202],
    what,
    repository: t.repository,
    probe: true
  })
  await drain(res)
  if (res.status === 201) return { mounted: true }
  return { mounted: false, session: sessionOf(t, res, what) }
}

/** Upload errors after which the session is unusable and the upload must start over. */
function restartable(err: unknown): boolean {
  if (!(err instanceof RegistryError)) return false
  return (
    err.status === 416 ||
    err.codes.includes('BLOB_UPLOAD_INVALID') ||
    err.codes.includes('BLOB_UPLOAD_UNKNOWN')
  )
}

/**
 * Uploads a blob from a stream opened by `open` (reopened when the upload must start over):
 * one PUT when it is small, PATCH chunks otherwise. Resolves with the bytes sent.
 */
export async function uploadBlob(
  t: BlobTarget,
  desc: Descriptor,
  open: () => Promise<Readable>,
  session?: UploadSession
): Promise<number> {
  const what = `upload of blob ${desc.digest} (${desc.size} bytes) to ${name(t)}`
  let sent = 0
  await withRetry(
    what,
    async attempt => {
      const s = attempt === 1 && session ? session : await startUpload(t)
      const chunk = Math.max(t.chunkSize ?? DEFAULT_CHUNK_SIZE, s.minChunk ?? 0)
      const whole = Math.max(t.chunkSize ?? DEFAULT_WHOLE_MAX, chunk)
      try {
        sent +=
          desc.size <= whole
            ? await monolithic(t, desc, open, s.location)
            : await chunked(t, desc, open, s.location, chunk)
      } catch (err) {
        if (restartable(err)) throw new RetryableError(messageOf(err))
        throw err
      }
    },
    t.client.policy,
    t.client.log
  )
  return sent
}

function withDigest(location: URL, digest: string): URL {
  const url = new URL(location)
  url.searchParams.set('digest', digest)
  return url
}

async function monolithic(
  t: BlobTarget,
  desc: Descriptor,
  open: () => Promise<Readable>,
  location: URL
): Promise<number> {
  const hasher = new HashingStream(parseDigest(desc.digest).algorithm, t.client.relief)
  const res = await t.client.request({
    method: 'PUT',
    url: withDigest(location, desc.digest),
    scopes: t.scopes,
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(desc.size) },
    body: async () => {
      const src = await open()
      src.on('error', err => hasher.destroy(err))
      return src.pipe(hasher)
    },
    expect: [201],
    what: `PUT blob ${desc.digest} (${desc.size} bytes) to ${name(t)}`,
    repository: t.repository,
    transfer: true
  })
  await drain(res)
  // The registry can answer as soon as it has the last byte, before the source has said it
  // ended; the hash is final only then (bounded: a source with bytes to spare never ends).
  if (!hasher.ended && hasher.size === desc.size)
    await Promise.race([
      finished(hasher, { readable: false }).catch(() => undefined),
      new Promise(resolve => setTimeout(resolve, SOURCE_END_WAIT_MS).unref())
    ])
  checkSent(desc, hasher)
  return hasher.size
}

/** How long a PUT's source may take to end after the registry took its last byte. */
const SOURCE_END_WAIT_MS = 10_000

function checkSent(desc: Descriptor, hasher: HashingStream): void {
  const got = hasher.ended ? hasher.digest() : undefined
  if (hasher.size !== desc.size || got !== desc.digest)
    throw new LadingError(
      `blob ${desc.digest}: the source gave ${hasher.size} bytes` +
        (got ? ` with digest ${got}` : hasher.size >= desc.size ? ' or more' : '') +
        `, expected ${desc.size} bytes; the source is corrupt or changed while being read`
    )
}

/** Pulls exactly `n` bytes at a time out of a stream (fewer only at its end). */
class ChunkReader {
  private readonly it: AsyncIterator<Buffer>
  private pending: Buffer[] = []
  private pendingSize = 0
  private done = false

  constructor(src: Readable) {
    this.it = src[Symbol.asyncIterator]()
  }

  async next(n: number): Promise<Buffer> {
    while (this.pendingSize < n && !this.done) {
      const r = await this.it.next()
      if (r.done) this.done = true
      else {
        this.pending.push(r.value)
        this.pendingSize += r.value.length
      }
    }
    const all = Buffer.concat(this.pending)
    const out = all.subarray(0, n)
    const rest = all.subarray(n)
    this.pending = rest.length ? [rest] : []
    this.pendingSize = rest.length
    return out
  }

  async close(): Promise<void> {
    await this.it.return?.()
  }
}

/** The offset the registry has stored for an upload (Range: 0-LAST), from its upload status. */
async function uploadOffset(
  t: BlobTarget,
  location: URL
): Promise<{ offset: number; location: URL }> {
  const what = `GET upload status of ${name(t)}`
  const res = await t.client.request({
    method: 'GET',
    url: location,
    scopes: t.scopes,
    expect: [204],
    what,
    repository: t.repository
  })
  await drain(res)
  const m = /^(?:bytes=)?0-(\d+)$/.exec(header(res, 'range') ?? '')
  const next = header(res, 'location') ? t.client.locationOf(res, what) : location
  // distribution answers `0-0` both for nothing stored and for one byte (it clamps the end at
  // 0): resuming from 0 is right for the first and only costs a restart for the second.
  const last = m ? Number(m[1]) : -1
  return { offset: last > 0 ? last + 1 : 0, location: next }
}

async function chunked(
  t: BlobTarget,
  desc: Descriptor,
  open: () => Promise<Readable>,
  start: URL,
  chunkSize: number
): Promise<number> {
  const hasher = new HashingStream(parseDigest(desc.digest).algorithm, t.client.relief)
  const src = await open()
  src.on('error', err => hasher.destroy(err))
  const reader = new ChunkReader(src.pipe(hasher))
  let location = start
  let offset = 0
  try {
    for (;;) {
      const chunk = await reader.next(chunkSize)
      if (!chunk.length) break
      location = await sendChunk(t, desc, location, chunk, offset)
      offset += chunk.length
    }
  } finally {
    await reader.close()
  }
  checkSent(desc, hasher)
  const res = await t.client.request({
    method: 'PUT',
    url: withDigest(location, desc.digest),
    scopes: t.scopes,
    headers: { 'Content-Type': 'application/octet-stream' },
    body: Buffer.alloc(0),
    expect: [201],
    what: `PUT (close upload of) blob ${desc.digest} to ${name(t)}`,
    repository: t.repository
  })
  await drain(res)
  return offset
}

/**
 * Sends one chunk. After a failure it asks the registry how much it stored and sends the rest of
 * the chunk from there; when the registry's offset is outside this chunk the upload restarts.
 */
async function sendChunk(
  t: BlobTarget,
  desc: Descriptor,
  location: URL,
  chunk: Buffer,
  offset: number
): Promise<URL> {
  let loc = location
  return withRetry(
    `PATCH blob ${desc.digest} bytes ${offset}-${offset + chunk.length - 1} to ${name(t)}`,
    async attempt => {
      let from = offset
      if (attempt > 1) {
        const status = await uploadOffset(t, loc)
        loc = status.location
        from = status.offset
        if (from < offset || from > offset + chunk.length)
          throw new RegistryError(
            `registry holds ${from} bytes of the upload, expected ${offset}`,
            416
          )
        if (from === offset + chunk.length) return loc
      }
      const part = chunk.subarray(from - offset)
      const res = await t.client.request({
        method: 'PATCH',
        url: loc,
        scopes: t.scopes,
        headers: {
          'Content-Type': 'application/octet-stream',
          'Content-Range': `${from}-${from + part.length - 1}`
        },
        body: part,
        retry: false,
        expect: [202],
        what: `PATCH blob ${desc.digest} bytes ${from}-${from + part.length - 1} to ${name(t)}`,
        repository: t.repository,
        transfer: true
      })
      await drain(res)
      return t.client.locationOf(res, `PATCH blob ${desc.digest}`)
    },
    t.client.policy,
    t.client.log
  )
}
