/** The streams an archive entry flows through on its way to disk. */
import { Transform, type TransformCallback } from 'node:stream'
import { HashingStream } from '../oci/digest.js'

/** Hashes, counts and keeps the first bytes of what flows through. */
export class Measuring extends HashingStream {
  head = Buffer.alloc(0)

  override _transform(chunk: Buffer, enc: BufferEncoding, cb: TransformCallback): void {
    if (this.head.length < 8)
      this.head = Buffer.concat([this.head, chunk.subarray(0, 8 - this.head.length)])
    super._transform(chunk, enc, cb)
  }
}

/** Passes the first `limit` bytes on and drops the rest: a blob is written up to its declared size. */
export class StopAt extends Transform {
  private left: number

  constructor(limit: number) {
    super()
    this.left = limit
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const take = Math.min(this.left, chunk.length)
    this.left -= take
    cb(null, take > 0 ? chunk.subarray(0, take) : undefined)
  }
}
