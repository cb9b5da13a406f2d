import { createHash, type Hash } from 'node:crypto'
import { Transform, type TransformCallback } from 'node:stream'
import { LadingError } from '../util/errors.js'
import type { MemoryRelief } from '../util/memory.js'

/** Digest algorithms registered by the OCI Image Spec, with the length of their hex encoding. */
const REGISTERED = new Map([
  ['sha256', 64],
  ['sha512', 128]
])

/** The hex length of a registered algorithm's digests, or undefined for any other name. */
export function encodedLength(algorithm: string): number | undefined {
  return REGISTERED.get(algorithm)
}

/** The two halves of the digest grammar of descriptor.md, algorithm ":" encoded. */
const ALGORITHM = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*$/
const ENCODED = /^[a-zA-Z0-9=_-]+$/

export interface ParsedDigest {
  algorithm: string
  encoded: string
}

/** Why a value is not a digest Lading can verify, from the coarsest reason to the finest. */
export type DigestReason =
  /** not a string at all */
  | 'not-a-string'
  /** not algorithm ":" encoded as descriptor.md's grammar has it */
  | 'grammar'
  /** grammatical, but the algorithm is neither sha256 nor sha512 */
  | 'unregistered-algorithm'
  /** a registered algorithm whose encoded part is not lower-case hex of the right length */
  | 'encoding'

export interface DigestProblem {
  reason: DigestReason
  /** what is wrong, worded to follow the digest, e.g. `"sha256:abc" ${message}` */
  message: string
}

/** Whether a name is an algorithm of the digest grammar, registered or not. */
export function isAlgorithmName(s: string): boolean {
  return ALGORITHM.test(s)
}

/** Whether a name is the encoded part of the digest grammar, of any algorithm. */
export function isEncodedName(s: string): boolean {
  return ENCODED.test(s)
}

/** Why `digest` is not a usable digest, or undefined when it is one Lading can verify. */
export function digestProblem(digest: unknown): DigestProblem | undefined {
  if (typeof digest !== 'string') return { reason: 'not-a-string', message: 'is not a string' }
  const colon = digest.indexOf(':')
  const algorithm = digest.slice(0, colon)
  const encoded = digest.slice(colon + 1)
  if (colon < 0 || !isAlgorithmName(algorithm) || !isEncodedName(encoded))
    return {
      reason: 'grammar',
      message: 'does not match the digest grammar algorithm:encoded'
    }
  const len = encodedLength(algorithm)
  if (len === undefined)
    return {
      reason: 'unregistered-algorithm',
      message: `uses algorithm "${algorithm}", which is not sha256 or sha512`
    }
  if (!/^[a-f0-9]+$/.test(encoded)) return { reason: 'encoding', message: 'is not lower-case hex' }
  if (encoded.length !== len)
    return {
      reason: 'encoding',
      message: `has ${encoded.length} hex characters; ${algorithm} needs ${len}`
    }
  return undefined
}

/** Whether `digest` follows the grammar, whether or not Lading can verify its algorithm. */
export function isGrammaticalDigest(digest: unknown): digest is string {
  const reason = digestProblem(digest)?.reason
  return reason !== 'not-a-string' && reason !== 'grammar'
}

/** Whether the digest's algorithm is one Lading can hash (the digest may still be malformed). */
export function isRegisteredAlgorithm(digest: string): boolean {
  return REGISTERED.has(digest.split(':', 1)[0])
}

export function parseDigest(digest: string, where = 'digest'): ParsedDigest {
  const problem = digestProblem(digest)
  if (problem) throw new LadingError(`${where} "${digest}" ${problem.message}`)
  const [algorithm, encoded] = digest.split(':', 2)
  return { algorithm, encoded }
}

/** Whether `digest` is one Lading can verify: sha256 or sha512, in lower-case hex of its length. */
export function isDigest(digest: unknown): digest is string {
  return digestProblem(digest) === undefined
}

export function digestOf(data: Buffer | string, algorithm = 'sha256'): string {
  return `${algorithm}:` + createHash(algorithm).update(data).digest('hex')
}

/**
 * A pass-through stream that hashes and counts what flows through it, so a blob is hashed in the
 * same pass that writes or uploads it.
 */
export class HashingStream extends Transform {
  private readonly hash: Hash
  private count = 0
  private result?: string

  /** `relief` counts what is hashed: it was read or made into Buffers that are now garbage. */
  constructor(
    readonly algorithm = 'sha256',
    private readonly relief?: MemoryRelief
  ) {
    super()
    this.hash = createHash(algorithm)
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk)
    this.count += chunk.length
    this.relief?.moved(chunk.length)
    cb(null, chunk)
  }

  override _flush(cb: TransformCallback): void {
    this.result = `${this.algorithm}:` + this.hash.digest('hex')
    cb()
  }

  /** Whether the stream has ended, so that digest() can be called. */
  get ended(): boolean {
    return this.result !== undefined
  }

  /** The digest, once the stream has ended. */
  digest(): string {
    if (!this.result) throw new Error('HashingStream.digest() called before the stream ended')
    return this.result
  }

  get size(): number {
    return this.count
  }
}

export function verifyContent(
  data: Buffer,
  digest: string,
  size: number | undefined,
  where: string
): void {
  const { algorithm } = parseDigest(digest, where)
  if (size !== undefined && data.length !== size)
    throw new LadingError(`${where}: expected ${size} bytes, got ${data.length}`)
  const actual = digestOf(data, algorithm)
  if (actual !== digest)
    throw new LadingError(`${where}: content has digest ${actual}, expected ${digest}`)
}
