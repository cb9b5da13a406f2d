import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { parseReference } from '../../src/oci/reference.js'
import { MountLocations, pushImage, type PushOptions } from '../../src/registry/index.js'
import {
  haveTool,
  startRegistry,
  type RegistryAuth,
  type TestRegistry
} from '../helpers/registry-server.js'
import { makeImage, requestFor } from '../helpers/push-image.js'
import { credsArgs, remoteDigest, skopeo } from '../helpers/skopeo.js'

const tools = haveTool('docker-registry') && haveTool('skopeo')
const d = tools ? describe : describe.skip

d.each<RegistryAuth>(['none', 'htpasswd', 'token'])('push to distribution (%s auth)', auth => {
  let reg: TestRegistry
  let tmp: string
  let opts: PushOptions
  const logs: string[] = []

  beforeAll(async () => {
    reg = await startRegistry(auth)
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lading-push-'))
    opts = {
      // Shared by the pushes of this registry, so a later push mounts what an earlier one sent.
      mounts: new MountLocations(),
      username: auth === 'none' ? undefined : reg.username,
      password: auth === 'none' ? undefined : reg.password,
      log: m => {
        logs.push(m)
        if (process.env.LADING_DEBUG) process.stderr.write(m + '\n')
      }
    }
  })
  afterAll(async () => {
    await reg?.stop()
    fs.rmSync(tmp, { recursive: true, force: true })
  })

  it('pushes a multi-platform image that skopeo reads back with the same digest', async () => {
    const img = await makeImage(path.join(tmp, 'multi'), {
      platforms: ['linux/amd64', 'linux/arm64']
    })
    const targets = [
      parseReference(`${reg.host}/app/multi:1`),
      parseReference(`${reg.host}/app/multi:latest`)
    ]
    const res = await pushImage(requestFor(img, targets), opts)
    expect(res.uploaded).toBe(img.blobs.length)
    expect(res.mounted + res.skipped).toBe(0)
    expect(res.refs).toEqual([
      `${reg.host}/app/multi:1@${img.root.digest}`,
      `${reg.host}/app/multi:latest@${img.root.digest}`
    ])
    expect(await remoteDigest(reg, `${reg.host}/app/multi:1`)).toBe(img.root.digest)
    expect(await remoteDigest(reg, `${reg.host}/app/multi:latest`)).toBe(img.root.digest)
    // skopeo verifies every blob it copies against its digest.
    const out = path.join(tmp, 'copied')
    await skopeo([
      'copy',
      '--all',
      '--src-tls-verify=false',
      ...credsArgs(reg, '--src-creds'),
      `docker://${reg.host}/app/multi:1`,
      `oci:${out}:x`
    ])
    const idx = JSON.parse(fs.readFileSync(path.join(out, 'index.json'), 'utf8'))
    expect(idx.manifests[0].digest).toBe(img.root.digest)

    // The same image again: nothing is uploaded.
    const again = await pushImage(requestFor(img, targets), opts)
    expect(again.uploaded).toBe(0)
    expect(again.skipped).toBe(img.blobs.length)
    expect(again.bytesUploaded).toBe(0)

    // To another repository of the same registry: every blob is mounted.
    const other = await pushImage(
      requestFor(img, [parseReference(`${reg.host}/other/multi:1`)]),
      opts
    )
    expect(other.mounted).toBe(img.blobs.length)
    expect(other.uploaded).toBe(0)
    expect(await remoteDigest(reg, `${reg.host}/other/multi:1`)).toBe(img.root.digest)
  })

  it('uploads large blobs in chunks and pushes by digest without tags', async () => {
    const img = await makeImage(path.join(tmp, 'chunked'), { layerSizes: [700_000] })
    const res = await pushImage(
      requestFor(img, [parseReference(`${reg.host}/app/chunked`)], true),
      {
        ...opts,
        chunkSize: 256 * 1024
      }
    )
    expect(res.refs).toEqual([`${reg.host}/app/chunked@${img.root.digest}`])
    expect(await remoteDigest(reg, `${reg.host}/app/chunked@${img.root.digest}`)).toBe(
      img.root.digest
    )
    // Distribution answers 404 for the tag list of a repository without tags.
    let tags: string[] = []
    try {
      const listed = await skopeo([
        'list-tags',
        '--tls-verify=false',
        ...credsArgs(reg, '--creds'),
        `docker://${reg.host}/app/chunked`
      ])
      tags = JSON.parse(listed.toString()).Tags ?? []
    } catch (err) {
      expect(String(err)).toContain('404')
    }
    expect(tags).toEqual([])
    await skopeo([
      'copy',
      '--src-tls-verify=false',
      ...credsArgs(reg, '--src-creds'),
      `docker://${reg.host}/app/chunked@${img.root.digest}`,
      `oci:${path.join(tmp, 'chunked-copy')}:x`
    ])
  })

  it('never logs a secret', () => {
    const all = logs.join('\n')
    expect(all.length).toBeGreaterThan(0)
    expect(all).not.toContain(reg.password)
    expect(all).not.toContain(Buffer.from(`${reg.username}:${reg.password}`).toString('base64'))
  })
})
