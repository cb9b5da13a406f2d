/** What the layer builder's tests share: their options, fresh stores, and reading a layer back. */
import { createHash } from 'node:crypto'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import * as zlib from 'node:zlib'
import type { BuiltLayer, LayerOptions } from '../../src/build/layer/index.js'
import { MediaType } from '../../src/oci/mediatypes.js'
import { Layout } from '../../src/transports/layout.js'
import { layerChecks } from '../../src/validate/layer/checks.js'

export const MTIME = new Date('2024-05-06T07:08:09Z')
export const gzipOpts: LayerOptions = { compression: 'gzip', checks: layerChecks, mtime: MTIME }

/** A maker of new, empty layout stores in the directory `dir()` gives (made by the suite). */
export function storesUnder(dir: () => string): () => Promise<Layout> {
  let count = 0
  return async () => {
    const store = new Layout(path.join(dir(), `store-${count++}`))
    await store.init()
    return store
  }
}

export const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex')

/** A built layer's blob as stored. */
export async function blob(store: Layout, l: BuiltLayer): Promise<Buffer> {
  return fs.readFile(store.path(l.descriptor.digest))
}

/** A built layer's blob decompressed as its media type says: its tar. */
export function decompress(l: BuiltLayer, data: Buffer): Buffer {
  if (l.descriptor.mediaType === MediaType.LayerGzip) return zlib.gunzipSync(data)
  if (l.descriptor.mediaType === MediaType.LayerZstd) return zlib.zstdDecompressSync(data)
  return data
}
