import { LadingError } from '../util/errors.js'
import { digestOf, isDigest, parseDigest } from '../oci/digest.js'
import { parseJSONValue, isObject } from '../oci/json.js'
import { MediaType } from '../oci/mediatypes.js'
import type { Descriptor } from '../oci/types.js'
import type { BlobTarget } from './blobs.js'
import { drain, header, readDocument } from './http.js'

/** Every manifest and index type Lading reads, for the Accept header. */
export const MANIFEST_ACCEPT = [
  MediaType.ImageIndex,
  MediaType.ImageManifest,
  MediaType.DockerManifestList,
  MediaType.DockerManifest
].join(', ')

export interface FetchedManifest {
  descriptor: Descriptor
  bytes: Buffer
}

function name(t: BlobTarget, ref: string): string {
  return `${t.client.registry}/${t.repository}${isDigest(ref) ? '@' : ':'}${ref}`
}

/**
 * GETs a manifest by tag or digest, never past MAX_DOCUMENT_BYTES; verified when the digest is
 * known (asked for, or stated).
 */
export async function getManifest(
  t: BlobTarget,
  ref: string,
  accept = MANIFEST_ACCEPT
): Promise<FetchedManifest> {
  const what = `GET manifest ${name(t, ref)}`
  const res = await t.client.request({
    method: 'GET',
    path: `${t.repository}/manifests/${ref}`,
    scopes: t.scopes,
    headers: { Accept: accept },
    expect: [200],
    what,
    repository: t.repository
  })
  const bytes = await readDocument(res, what)
  const stated = header(res, 'docker-content-digest')
  const algorithm = isDigest(ref)
    ? parseDigest(ref).algorithm
    : stated && isDigest(stated)
      ? parseDigest(stated).algorithm
      : 'sha256'
  const digest = digestOf(bytes, algorithm)
  const expected = isDigest(ref) ? ref : stated
  if (expected && isDigest(expected) && expected !== digest)
    throw new LadingError(
      `${what}: the content has digest ${digest}, but the registry said ${expected}`
    )
  let mediaType = (header(res, 'content-type') ?? '').split(';')[0].trim()
  const doc = parseJSONValue(bytes, `${what}: the registry answered a manifest that`)
  // The document's own mediaType is authoritative; some registries answer a generic Content-Type.
  const own = isObject(doc) ? doc.mediaType : undefined
  if (typeof own === 'string' && own) mediaType = own
  return { descriptor: { mediaType, digest, size: bytes.length }, bytes }
}

export async function manifestExists(t: BlobTarget, digest: string): Promise<boolean> {
  const res = await t.client.request({
    method: 'HEAD',
    path: `${t.repository}/manifests/${digest}`,
    scopes: t.scopes,
    headers: { Accept: MANIFEST_ACCEPT },
    expect: [200, 404],
    what: `HEAD manifest ${name(t, digest)}`,
    repository: t.repository
  })
  await drain(res)
  return res.status === 200
}

/** PUTs a manifest under a tag or its digest and checks the digest the registry computed. */
export async function putManifest(t: BlobTarget, ref: string, m: FetchedManifest): Promise<void> {
  const what = `PUT manifest ${name(t, ref)}`
  const res = await t.client.request({
    method: 'PUT',
    path: `${t.repository}/manifests/${ref}`,
    scopes: t.scopes,
    headers: { 'Content-Type': m.descriptor.mediaType },
    body: m.bytes,
    expect: [201],
    what,
    repository: t.repository
  })
  await drain(res)
  const stated = header(res, 'docker-content-digest')
  if (stated && stated !== m.descriptor.digest)
    throw new LadingError(
      `${what}: the registry stored it as ${stated}, not ${m.descriptor.digest}; ` +
        'it rewrote the manifest, so references by digest would not match'
    )
}
