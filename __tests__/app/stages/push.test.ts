/**
 * Upload while validating: blobs go up as soon as they are built or staged, the manifests and tags
 * only once the report passed. A failed gate leaves blobs at most, never a manifest or a tag.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as os from 'node:os'
import * as path from 'node:path'
import { spawnSync } from 'node:child_process'
import * as tar from 'tar-stream'
import { cli as runCli } from '../../helpers/cli.js'
import { startRegistry, type TestRegistry } from '../../helpers/registry-server.js'

let tmp: string
let reg: TestRegistry
const cli = (args: string[]) => runCli(args, { HOME: tmp })

/** A tarball whose one entry climbs out of the root: a layer that fails validation. */
async function escapingTarball(file: string): Promise<void> {
  const pack = tar.pack()
  pack.entry({ name: '../escape.txt', mtime: new Date(0) }, 'out\n')
  pack.finalize()
  const chunks: Buffer[] = []
  for await (const c of pack as AsyncIterable<Buffer>) chunks.push(c)
  await fs.writeFile(file, Buffer.concat(chunks))
}

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'lading-early-push-'))
  await fs.mkdir(path.join(tmp, 'app'))
  await fs.writeFile(path.join(tmp, 'app', 'server.js'), 'console.log("hi")\n')
  await escapingTarball(path.join(tmp, 'bad.tar'))
  reg = await startRegistry('none')
})
afterAll(async () => {
  await reg?.stop()
  await fs.rm(tmp, { recursive: true, force: true })
})

/** A manifest GET names the OCI types, or the registry answers 404 whatever it holds. */
const ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json'
const status = async (url: string, method = 'GET') =>
  (await fetch(url, { method, headers: { Accept: ACCEPT } })).status

describe('early push', () => {
  it('a failed gate pushes no manifest and no tag, whatever blobs went up', async () => {
    const r = await cli([
      'build',
      '--layers',
      `${path.join(tmp, 'app')}:/app`,
      '--layers',
      path.join(tmp, 'bad.tar'),
      '--push',
      '--tags',
      `${reg.host}/early/gate:1`,
      '--output',
      path.join(tmp, 'gate')
    ])
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/layer-path-escapes|escape/)
    const built = /layer \S+:\/app: (sha256:[0-9a-f]{64})/.exec(r.err)?.[1]
    expect(built).toBeDefined()
    // The layer built first may have gone up before the report was made: that is allowed.
    expect([200, 404]).toContain(
      await status(`http://${reg.host}/v2/early/gate/blobs/${built}`, 'HEAD')
    )
    expect(await status(`http://${reg.host}/v2/early/gate/manifests/1`)).toBe(404)
    const inspect = spawnSync('skopeo', [
      'inspect',
      '--tls-verify=false',
      `docker://${reg.host}/early/gate:1`
    ])
    expect(inspect.status).not.toBe(0)
  })

  it('a passing run pushes its blobs early and its manifest and tag last', async () => {
    const r = await cli([
      'build',
      '--layers',
      `${path.join(tmp, 'app')}:/app`,
      '--push',
      '--tags',
      `${reg.host}/early/ok:1`,
      '--output',
      path.join(tmp, 'ok')
    ])
    expect(r.code).toBe(0)
    const lines = r.err.split('\n')
    const uploaded = lines.findLastIndex(l => l.startsWith('uploaded '))
    const validated = lines.findIndex(l => l.startsWith('validated the assembled layout'))
    const pushed = lines.findIndex(l => l.startsWith('pushed '))
    const tagged = lines.findIndex(l => l.startsWith('tagged '))
    // Each line is there (findIndex gives -1, which any order check would pass).
    for (const i of [uploaded, validated, pushed, tagged]) expect(i).toBeGreaterThanOrEqual(0)
    expect(pushed).toBeGreaterThan(validated)
    expect(pushed).toBeGreaterThan(uploaded)
    expect(tagged).toBeGreaterThan(pushed)
    expect(await status(`http://${reg.host}/v2/early/ok/manifests/1`)).toBe(200)
  })
})
