import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { parseReference } from '../src/oci/reference.js'
import { MountLocations, pushImage } from '../src/registry/index.js'
import { MemoryRelief } from '../src/util/memory.js'
import { makeImage, requestFor } from './helpers/push-image.js'
import { haveTool, startRegistry, type TestRegistry } from './helpers/registry-server.js'

// haveTool throws for a missing tool under LADING_TEST_TOOLS=1, so only a local run skips.
const tools = haveTool('docker-registry')
const d = tools ? describe : describe.skip

let reg: TestRegistry
let tmp: string
const savedDockerConfig = process.env.DOCKER_CONFIG

beforeAll(async () => {
  if (!tools) return
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lading-push-mounts-'))
  process.env.DOCKER_CONFIG = path.join(tmp, 'no-docker-config')
  reg = await startRegistry('none')
})

afterAll(async () => {
  if (savedDockerConfig === undefined) delete process.env.DOCKER_CONFIG
  else process.env.DOCKER_CONFIG = savedDockerConfig
  await reg?.stop()
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true })
})

const to = (ref: string) => [parseReference(`${reg.host}/${ref}`)]

d('MountLocations', () => {
  it('lets pushes that share one mount from each other', async () => {
    const img = await makeImage(path.join(tmp, 'shared'))
    const mounts = new MountLocations()
    const first = await pushImage(requestFor(img, to('shared/one:1')), { mounts })
    expect(first.uploaded).toBe(img.blobs.length)
    const second = await pushImage(requestFor(img, to('shared/two:1')), { mounts })
    expect(second.mounted).toBe(img.blobs.length)
    expect(second.uploaded).toBe(0)
  })

  it('keeps pushes with their own apart: nothing is learnt from another push', async () => {
    const img = await makeImage(path.join(tmp, 'apart'))
    const first = await pushImage(requestFor(img, to('apart/one:1')), {
      mounts: new MountLocations()
    })
    expect(first.uploaded).toBe(img.blobs.length)
    for (const opts of [{ mounts: new MountLocations() }, {}]) {
      const repo = `apart/${opts.mounts ? 'own' : 'none'}:1`
      const res = await pushImage(requestFor(img, to(repo)), opts)
      expect(res.mounted).toBe(0)
      expect(res.uploaded).toBe(img.blobs.length)
    }
  })
})

d('memory relief', () => {
  class CountingRelief extends MemoryRelief {
    hashed = 0
    override moved(bytes: number): void {
      this.hashed += bytes
      super.moved(bytes)
    }
  }

  it('counts every byte uploaded, whole or in chunks', async () => {
    for (const chunkSize of [undefined, 256 * 1024]) {
      const img = await makeImage(path.join(tmp, `relief-${chunkSize ?? 'whole'}`), {
        layerSizes: [700_000]
      })
      const relief = new CountingRelief()
      const res = await pushImage(requestFor(img, to(`relief/${chunkSize ?? 'whole'}:1`)), {
        relief,
        chunkSize
      })
      expect(res.bytesUploaded).toBeGreaterThan(700_000)
      expect(relief.hashed).toBe(res.bytesUploaded)
    }
  })
})
