/**
 * Pushes an OCI layout's image to a reference with Lading's registry client and prints the result
 * and the time as JSON. Bundled and run in its own process by push.ts.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import { parseReference } from '../src/oci/reference.js'
import type { Descriptor, Manifest } from '../src/oci/types.js'
import { pushImage, type PushRequest } from '../src/registry/index.js'
import { BlobStore } from '../src/transports/blobstore.js'

async function main(): Promise<void> {
  const [layout, target] = process.argv.slice(2)
  const started = process.hrtime.bigint()
  const store = new BlobStore(path.resolve(layout))
  const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8'))
  const root: Descriptor = index.manifests[0]
  const bytes = await store.read(root)
  const manifest = JSON.parse(bytes.toString('utf8')) as Manifest
  const req: PushRequest = {
    targets: [parseReference(target)],
    root: { mediaType: root.mediaType, digest: root.digest, size: root.size },
    manifests: new Map([[root.digest, { descriptor: root, bytes }]]),
    blobs: [manifest.config, ...manifest.layers].map(descriptor => ({ descriptor, reader: store }))
  }
  const res = await pushImage(req, {})
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  process.stdout.write(
    JSON.stringify({ ms, maxRssKiB: process.resourceUsage().maxRSS, ...res }) + '\n'
  )
}

main().catch(err => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
