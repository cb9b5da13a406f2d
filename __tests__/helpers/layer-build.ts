/** What the layer builder's tests share: their options, fresh stores, and reading a layer back. */
import { createHash } from 'node:crypto'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { Writable } from 'node:stream'
import * as zlib from 'node:zlib'
import type { BuiltLayer, LayerOptions } from '../../src/build/layer/index.js'
import { MediaType } from '../../src/oci/mediatypes.js'
import type { LayerChecks, TarEntryHeader } from '../../src/oci/scan.js'
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

/**
 * Layer checks that find nothing and call `onEntry` with each tar header as it is written: a hook
 * into the middle of a build (to change a file after its header, say).
 */
export function checksCalling(onEntry: (h: TarEntryHeader) => void = () => {}): LayerChecks {
  const scan = (l: { size: number; digest: string; diffId: string }) => ({
    size: l.size,
    digest: l.digest,
    diffId: l.diffId,
    findings: []
  })
  return {
    entries: () => ({ entry: onEntry, result: scan }),
    tarStream: () => ({
      sink: new Writable({ write: (_c, _e, cb) => cb() }),
      tarError: () => Promise.resolve(undefined),
      result: l => Promise.resolve(scan(l))
    })
  }
}
