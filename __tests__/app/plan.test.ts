import { beforeAll, describe, expect, it } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { withDefaults } from '../../src/app/inputs.js'
import { makePlan } from '../../src/app/plan.js'
import { trackedTempDirs } from '../helpers/transports-fixtures.js'

const tmp = trackedTempDirs('lading-plan-')
// The plan is made, never run, in a directory that holds a directory `site`.
let cwd: string
beforeAll(async () => {
  cwd = await tmp()
  await fs.mkdir(path.join(cwd, 'site'))
})

const plan = (inputs: Record<string, string>) =>
  makePlan(withDefaults({ layers: 'site:/', ...inputs }), {}, cwd)

describe('inputs a user gets wrong', () => {
  it.each([
    [{ platforms: 'linux/amd64,linux/amd64' }, /platforms: linux\/amd64 is given twice/],
    [
      { platforms: 'linux/arm64\nlinux/arm64/v8' },
      /platforms: linux\/arm64\/v8 is given twice \(as linux\/arm64 too\)/
    ],
    [{ env: 'A B=1' }, /env: "A B=1": the name "A B" has white space/],
    [{ created: '2024-02-30T00:00:00Z' }, /created: "2024-02-30T00:00:00Z" is neither RFC 3339/],
    [{ created: '2024-01-01T25:00:00Z' }, /created: .* is neither RFC 3339/],
    [
      { from: 'image.tar' },
      /from: "image.tar" looks like a local file; write oci-archive:image.tar or docker-archive:image.tar/
    ],
    [{ from: './site' }, /from: ".\/site" looks like a local directory; write oci:.\/site/],
    [{ from: 'out/image.tar.xz' }, /from: "out\/image.tar.xz" looks like a local file/],
    [{ from: 'IMAGE.TZST' }, /from: "IMAGE.TZST" looks like a local file/],
    [{ from: 'site.tbz' }, /from: "site.tbz" looks like a local file/],
    [
      { from: '../nothing/here' },
      /from: "..\/nothing\/here" looks like a local path, where there is nothing yet/
    ],
    [
      { output: 'out', archive: 'out-report.json' },
      /archive: .* is where the validation report goes/
    ]
  ])('%j', (inputs, message) => {
    expect(() => plan(inputs)).toThrow(message)
  })

  it('an image whose tag ends as a tarball name does is an image, not a file', () => {
    expect(plan({ from: 'ghcr.io/o/img:1.0.tar' }).from).toEqual([
      {
        line: 'ghcr.io/o/img:1.0.tar',
        spec: { kind: 'registry', reference: 'ghcr.io/o/img:1.0.tar' }
      }
    ])
  })

  it('a real date in RFC 3339 with an offset is taken', () => {
    expect(plan({ created: '2024-02-29T23:30:00+01:00' }).created.toISOString()).toBe(
      '2024-02-29T22:30:00.000Z'
    )
  })
})

describe('layers', () => {
  it('reads Windows sources, a line each (CRLF too), with flags and platform variables', () => {
    const p = plan({
      platforms: 'linux/amd64,linux/arm64',
      layers:
        'C:\\dist\\app:/app/app\r\n--chmod=0755 D:/out/${TARGETARCH}/app.exe:/app/bin\r\nC:/static\n'
    })
    expect(p.layers.map(l => [l.source, l.dest, l.chmod])).toEqual([
      ['C:\\dist\\app', '/app/app', undefined],
      ['D:/out/${TARGETARCH}/app.exe', '/app/bin', 0o755],
      ['C:/static', undefined, undefined]
    ])
  })
})

describe('cache-from', () => {
  it('reads references, oci: layouts and buildx lines; leaves out caches of other types', () => {
    const p = plan({
      'cache-from': [
        'ghcr.io/o/app:latest',
        'oci:./cache',
        'type=registry,ref=ghcr.io/o/app:buildcache,mode=max',
        'ref=ghcr.io/o/app:ref-only',
        'type=local,src=/tmp/cache',
        'src=/tmp/src-only',
        'type=gha,scope=main',
        'type=s3,region=eu,bucket=b'
      ].join('\n')
    })
    expect(
      p.cacheFrom.map(c => [c.line, c.spec.kind === 'registry' ? c.spec.reference : c.spec])
    ).toEqual([
      ['ghcr.io/o/app:latest', 'ghcr.io/o/app:latest'],
      ['oci:./cache', expect.objectContaining({ kind: 'oci', path: './cache' })],
      ['type=registry,ref=ghcr.io/o/app:buildcache,mode=max', 'ghcr.io/o/app:buildcache'],
      ['ref=ghcr.io/o/app:ref-only', 'ghcr.io/o/app:ref-only'],
      ['type=local,src=/tmp/cache', expect.objectContaining({ kind: 'oci', path: '/tmp/cache' })],
      ['src=/tmp/src-only', expect.objectContaining({ kind: 'oci', path: '/tmp/src-only' })]
    ])
    expect(p.cacheFromSkipped.map(s => s.line)).toEqual([
      'type=gha,scope=main',
      'type=s3,region=eu,bucket=b'
    ])
    expect(p.cacheFromSkipped[0].why).toMatch(/type=gha is a BuildKit cache store/)
  })

  it.each([
    ['type=registry', /cache-from: "type=registry": type=registry needs ref=/],
    ['type=local,src=', /cache-from: "type=local,src=": type=local needs src=/],
    ['type=registry,ref=x,ref=y', /"ref" is given twice/],
    ['type=registry,mode', /"mode" is not key=value/],
    ['type=registry,ref=Not/Valid', /cache-from: "type=registry,ref=Not\/Valid": .*not a valid/],
    ['scratch', /cache-from: "scratch" has no layers/],
    [
      './no-such-cache',
      /cache-from: ".\/no-such-cache" looks like a local path, where there is nothing yet; write oci:.\/no-such-cache for an OCI layout/
    ],
    [
      './site',
      /cache-from: ".\/site" looks like a local directory; write oci:.\/site for an OCI layout/
    ],
    ['cache.tar', /cache-from: "cache.tar" looks like a local file; write oci-archive:cache.tar/]
  ])('%s is a usage error', (line, message) => {
    expect(() => plan({ 'cache-from': line })).toThrow(message)
  })
})
