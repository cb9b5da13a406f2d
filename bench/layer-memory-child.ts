/**
 * Builds one layer and reports time and peak memory as JSON. Bundled and run in its own process
 * by layer-memory.ts, so the peak RSS measured is the layer build's alone.
 */
import * as path from 'node:path'
import { buildLayer } from '../src/build/layer.js'
import { BlobStore } from '../src/transports/blobstore.js'
import type { Compression } from '../src/oci/mediatypes.js'

async function main(): Promise<void> {
  const [source, storeDir, compression = 'gzip'] = process.argv.slice(2)
  const store = new BlobStore(path.resolve(storeDir))
  await store.init()
  const started = process.hrtime.bigint()
  const layer = await buildLayer({ source, dest: '/data', spec: `${source}:/data` }, store, {
    compression: compression as Compression,
    mtime: new Date(0)
  })
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  await store.finish()
  process.stdout.write(
    JSON.stringify({ ms, maxRssKiB: process.resourceUsage().maxRSS, ...layer }) + '\n'
  )
}

main().catch(err => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
