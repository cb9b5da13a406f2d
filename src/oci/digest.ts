import { createHash, type Hash } from 'node:crypto'
import { Transform, type TransformCallback } from 'node:stream'
import { LadingError } from '../util/errors.js'
import type { MemoryRelief } from '../util/memory.js'

/** Digest algorithms registered by the OCI Image Spec, with the length of their hex encoding. */
export const registeredAlgorithms: Record<string, number> = { sha256: 64, sha512: 128 }

/** The digest grammar of descriptor.md: algorithm:encoded. */
export const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/

export interface ParsedDigest {
  algorithm: string
  encoded: string
}

/** Why a digest string is not a usable digest, or undefined when it is one Lading can verify. */
export function digestProblem(digest: unknown): string | undefined {
  if (typeof digest !== 'string') return 'is not a string'
  if (!DIGEST_GRAMMAR.test(digest)) return 'does not match the digest grammar algorithm:encoded'
  const [algorithm, encoded] = digest.split(':', 2)
  const len = registeredAlgorithms[algorithm]
  if (len === undefined) return `uses algorithm "${algorithm}", which is not sha256 or sha512`
  if (!/^[a-f0-9]+$/.test(encoded)) return 'is not lower-case hex'
  if (encoded.length !== len)
    return `has ${encoded.length} hex characters; ${algorithm} needs ${len}`
  return undefined
}

export function parseDigest(digest: string, where = 'digest'): ParsedDigest {
  const problem = digestProblem(digest)
  if (problem) throw new LadingError(`${where} "${digest}" ${problem}`)
  const [algorithm, encoded] = digest.split(':', 2)
  return { algorithm, encoded }
}

export function isDigest(s: string): boolean {
  return digestProblem(s) === undefined
}

export function sha256(data: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex')
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
