/**
 * The bundled action run as the runner runs it: `node dist/index.js` with INPUT_* variables,
 * GITHUB_OUTPUT and GITHUB_STEP_SUMMARY. scripts/test.sh rebuilds dist/ before the tests.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import * as fs from 'node:fs/promises'
import * as os from 'node:os'
import * as path from 'node:path'
import { createHash } from 'node:crypto'
import { parseOutputs, runAction } from '../helpers/action.js'
import { injectArtifact } from '../helpers/command-injection.js'
import { mdText } from '../../src/action/summary.js'

let tmp: string

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'lading-action-'))
  await fs.mkdir(path.join(tmp, 'site'))
  await fs.writeFile(path.join(tmp, 'site', 'index.html'), '<h1>hi</h1>\n')
})
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true })
})

// The repository variables the runner sets for every step feed the image's source labels.
const run = (name: string, inputs: Record<string, string>) =>
  runAction(tmp, name, inputs, {
    GITHUB_REPOSITORY: 'octo/hello',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_SHA: 'a'.repeat(40),
    GITHUB_WORKSPACE: tmp
  })

describe('node dist/index.js as the runner runs it', () => {
  it('builds with action.yml defaults, writes the outputs and the job summary', async () => {
    const r = run('ok', {
      layers: 'site:/srv/www',
      'exposed-ports': '8080',
      'fail-on': 'warning',
      created: '1700000000'
    })
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    const out = parseOutputs(await fs.readFile(r.outFile, 'utf8'))
    expect(out.digest).toMatch(/^sha256:[a-f0-9]{64}$/)
    expect(out['media-type']).toBe('application/vnd.oci.image.manifest.v1+json')
    expect(out['config-digest']).toMatch(/^sha256:/)
    expect(out.platforms).toBe('linux/amd64')
    // default output: $RUNNER_TEMP/lading/layout
    expect(out.layout).toBe(path.join(tmp, 'ok-runner', 'lading', 'layout'))
    expect(out.valid).toBe('true')
    expect(out['image-refs']).toBe('[]')
    const meta = JSON.parse(out.metadata)
    expect(meta['containerimage.digest']).toBe(out.digest)
    expect(meta['containerimage.config.digest']).toBe(out['config-digest'])
    expect(meta['containerimage.descriptor']).toMatchObject({
      digest: out.digest,
      mediaType: out['media-type']
    })
    const report = JSON.parse(await fs.readFile(out.report, 'utf8'))
    expect(report).toMatchObject({ valid: true, errors: 0, warnings: 0, findings: [] })
    const summary = await fs.readFile(r.summary, 'utf8')
    expect(summary).toContain(out.digest)
    expect(summary).toContain('linux/amd64')
    expect(summary).toContain('application/vnd.oci.image.layer.v1.tar+gzip')
    expect(summary).toMatch(/### Timings[\s\S]*\| build layers \| [\d.]+ m?s \|/)
    expect(out.imageid).toBe(out['config-digest'])
    expect(JSON.parse(out['platform-digests'])).toEqual({ 'linux/amd64': out.digest })
    // each phase in a log group closed by its duration
    expect(r.stdout).toMatch(
      /::group::build layers\n[\s\S]*build layers: done in [\d.]+ m?s\n::endgroup::/
    )
    // GitHub context annotations on the manifest
    const manifest = JSON.parse(
      await fs.readFile(path.join(out.layout, 'blobs/sha256', out.digest.slice(7)), 'utf8')
    )
    expect(manifest.annotations).toEqual({
      'org.opencontainers.image.created': '2023-11-14T22:13:20Z',
      'org.opencontainers.image.revision': 'a'.repeat(40),
      'org.opencontainers.image.source': 'https://github.com/octo/hello'
    })
  })

  it('with tags and no push, says in the log and the summary that nothing was pushed', async () => {
    const r = run('nopush', {
      layers: 'site:/srv/www',
      tags: 'ghcr.io/octo/hello:pr-1',
      output: path.join(tmp, 'nopush-layout')
    })
    expect(r.status).toBe(0)
    const said =
      'the image was built and validated but not pushed to ghcr.io/octo/hello:pr-1: ' +
      'push is false (the default); set push: true to push'
    expect(r.stdout).toContain(said)
    // The summary escapes what came from the inputs (the tag) as Markdown text.
    expect(await fs.readFile(r.summary, 'utf8')).toContain(`**Not pushed:** ${mdText(said)}`)
    expect(parseOutputs(await fs.readFile(r.outFile, 'utf8'))['image-refs']).toBe('[]')
  })

  it('takes an unchanged layer from cache-from and says so in the log and the summary', async () => {
    await fs.mkdir(path.join(tmp, 'app'), { recursive: true })
    await fs.writeFile(path.join(tmp, 'app', 'main.js'), 'console.log(1)\n')
    const layers = 'site:/srv/www\napp:/app'
    const first = run('cache1', { layers, output: path.join(tmp, 'cache1-layout') })
    expect(first.status).toBe(0)
    await fs.writeFile(path.join(tmp, 'app', 'main.js'), 'console.log(2)\n')
    const line = `type=local,src=${path.join(tmp, 'cache1-layout')}`
    const r = run('cache2', { layers, 'cache-from': line, output: path.join(tmp, 'cache2-layout') })
    expect(r.status).toBe(0)
    const taken = /layer site:\/srv\/www: taken from the cache .* \((sha256:[0-9a-f]{64})\)/.exec(
      r.stdout
    )
    expect(taken).not.toBeNull()
    expect(r.stdout).not.toMatch(/layer app:\/app: taken from the cache/)
    const summary = await fs.readFile(r.summary, 'utf8')
    expect(summary).toContain(
      `- **From the cache:** 1 layer(s) taken from \`${line}\`, not built again: \`${taken![1].slice(0, 19)}…\``
    )
  })

  it('summary: false writes no job summary', async () => {
    const r = run('nosummary', {
      layers: 'site:/srv/www',
      summary: 'false',
      output: path.join(tmp, 'nosummary-layout')
    })
    expect(r.status).toBe(0)
    expect(await fs.readFile(r.summary, 'utf8')).toBe('')
  })

  it('lets the user override the GitHub annotations and put some on the index', async () => {
    const r = run('ann', {
      layers: 'site:/srv/www',
      platforms: 'linux/amd64\nlinux/arm64',
      annotations:
        'manifest:org.opencontainers.image.source=https://example.com/x\nindex:org.opencontainers.image.title=hello',
      output: path.join(tmp, 'ann-layout')
    })
    expect(r.status).toBe(0)
    const out = parseOutputs(await fs.readFile(r.outFile, 'utf8'))
    const index = JSON.parse(
      await fs.readFile(path.join(tmp, 'ann-layout', 'blobs/sha256', out.digest.slice(7)), 'utf8')
    )
    expect(index.annotations['org.opencontainers.image.title']).toBe('hello')
    expect(index.annotations['org.opencontainers.image.source']).toBe(
      'https://github.com/octo/hello'
    )
    const m = JSON.parse(
      await fs.readFile(
        path.join(tmp, 'ann-layout', 'blobs/sha256', index.manifests[0].digest.slice(7)),
        'utf8'
      )
    )
    expect(m.annotations['org.opencontainers.image.source']).toBe('https://example.com/x')
  })

  it("takes docker/metadata-action's tags, labels and annotations outputs verbatim", async () => {
    // What metadata-action@v5 writes for a push to main with DOCKER_METADATA_ANNOTATIONS_LEVELS=manifest,index
    const tags = 'ghcr.io/octo/hello:main\nghcr.io/octo/hello:sha-aaaaaaa\n'
    const labels =
      'org.opencontainers.image.created=2024-05-06T07:08:09.123Z\n' +
      'org.opencontainers.image.description=Hello, world\n' +
      'org.opencontainers.image.licenses=MIT\n' +
      'org.opencontainers.image.revision=' +
      'a'.repeat(40) +
      '\n' +
      'org.opencontainers.image.source=https://github.com/octo/hello\n' +
      'org.opencontainers.image.title=hello\n' +
      'org.opencontainers.image.url=https://github.com/octo/hello\n' +
      'org.opencontainers.image.version=main\n'
    const annotations =
      'manifest:org.opencontainers.image.created=2024-05-06T07:08:09.123Z\n' +
      'manifest:org.opencontainers.image.version=main\n' +
      'index:org.opencontainers.image.created=2024-05-06T07:08:09.123Z\n' +
      'index:org.opencontainers.image.version=main\n' +
      'manifest-descriptor:org.opencontainers.image.title=hello\n'
    const output = path.join(tmp, 'meta-layout')
    const r = run('meta', {
      layers: 'site:/srv/www',
      platforms: 'linux/amd64,linux/arm64',
      tags,
      labels,
      annotations,
      push: 'false',
      output
    })
    expect(r.stdout).not.toMatch(/::error::/)
    expect(r.status).toBe(0)
    const out = parseOutputs(await fs.readFile(r.outFile, 'utf8'))
    expect(JSON.parse(out.metadata)['image.name']).toBe(
      'ghcr.io/octo/hello:main,ghcr.io/octo/hello:sha-aaaaaaa'
    )
    expect(out['image-refs']).toBe('[]')
    const blob = async (d: string) =>
      JSON.parse(await fs.readFile(path.join(output, 'blobs/sha256', d.slice(7)), 'utf8'))
    const index = await blob(out.digest)
    expect(index.annotations['org.opencontainers.image.version']).toBe('main')
    const manifest = await blob(index.manifests[0].digest)
    expect(manifest.annotations).toMatchObject({
      'org.opencontainers.image.version': 'main',
      'org.opencontainers.image.created': '2024-05-06T07:08:09.123Z'
    })
    // manifest-descriptor: on each index entry, as buildx puts it, not in the manifest
    expect(manifest.annotations['org.opencontainers.image.title']).toBeUndefined()
    for (const entry of index.manifests)
      expect(entry.annotations).toEqual({ 'org.opencontainers.image.title': 'hello' })
    const config = await blob(manifest.config.digest)
    expect(config.config.Labels['org.opencontainers.image.description']).toBe('Hello, world')
    expect(Object.keys(config.config.Labels)).toHaveLength(8)
  })

  it('gates on validation: an annotation per finding, a findings table, valid=false, the report, nothing written', async () => {
    // A source whose manifest has a malformed created annotation (an error) — written with fail-on never.
    const src = path.join(tmp, 'gate-src')
    const made = run('gate-make', {
      layers: 'site:/srv/www',
      annotations: 'org.opencontainers.image.created=last tuesday',
      'fail-on': 'never',
      output: src
    })
    // fail-on never: the step passes, and valid says what validation found
    expect(made.status).toBe(0)
    expect(parseOutputs(await fs.readFile(made.outFile, 'utf8')).valid).toBe('false')
    const output = path.join(tmp, 'gate-out')
    const r = run('gate', { from: `oci:${src}`, output })
    expect(r.status).toBe(1)
    expect(r.stdout).toMatch(
      /^::error title=annotation-created::.*last tuesday.*https:\/\/github\.com\/opencontainers\/image-spec/m
    )
    expect(r.stdout).toMatch(/^::error::a source image failed validation: 1 error\(s\)/m)
    expect(r.stdout).not.toMatch(/\n\s+at /)
    await expect(fs.access(output)).rejects.toThrow()
    const out = parseOutputs(await fs.readFile(r.outFile, 'utf8'))
    expect(out.valid).toBe('false')
    const report = JSON.parse(await fs.readFile(out.report, 'utf8'))
    expect(report).toMatchObject({ valid: false, errors: 1 })
    expect(report.findings[0]).toMatchObject({ rule: 'annotation-created', severity: 'error' })
    const summary = await fs.readFile(r.summary, 'utf8')
    expect(summary).toMatch(/Validation: failed \(1 error/)
    expect(summary).toMatch(/\| error \| \[`annotation-created`\]\(https:/)
  })

  it('gates on a source whose manifest nests 10,000 deep: a json-too-deep finding, no stack', async () => {
    const src = path.join(tmp, 'deep-src')
    expect(run('deep-make', { layers: 'site:/srv/www', output: src }).status).toBe(0)
    const bytes = Buffer.from('{"a":'.repeat(10_000) + '[]' + '}'.repeat(10_000))
    const hex = createHash('sha256').update(bytes).digest('hex')
    await fs.writeFile(path.join(src, 'blobs/sha256', hex), bytes)
    const index = JSON.parse(await fs.readFile(path.join(src, 'index.json'), 'utf8'))
    index.manifests[0] = { ...index.manifests[0], digest: `sha256:${hex}`, size: bytes.length }
    await fs.writeFile(path.join(src, 'index.json'), JSON.stringify(index))
    const output = path.join(tmp, 'deep-out')
    const r = run('deep', { from: `oci:${src}`, output })
    expect(r.status).toBe(1)
    expect(r.stdout).toMatch(
      /^::error title=json-too-deep::.*nests arrays and objects 10001 levels deep, more than the 64 \(MAX_JSON_DEPTH\)/m
    )
    expect(r.stdout + r.stderr).not.toMatch(/RangeError|call stack|\n\s+at /)
    await expect(fs.access(output)).rejects.toThrow()
    const report = JSON.parse(
      await fs.readFile(parseOutputs(await fs.readFile(r.outFile, 'utf8')).report, 'utf8')
    )
    expect(report.findings).toEqual([expect.objectContaining({ rule: 'json-too-deep' })])
  })

  it("writes a source's hostile media type into the log as text, never as a workflow command", async () => {
    const src = path.join(tmp, 'inject-src')
    expect(run('inject-make', { layers: 'site:/srv/www', output: src }).status).toBe(0)
    await injectArtifact(src)
    const r = run('inject', {
      from: `oci:${src}`,
      'fail-on': 'never',
      output: path.join(tmp, 'inject-out')
    })
    expect(r.status).toBe(0)
    // The log copies the blob under that media type, and the findings name it, each escaped:
    // the log line by Lading, the annotations by @actions/core.
    expect(r.stdout).toContain(`application/x.a\n\\u003a:error title=pwned::injected`)
    expect(r.stdout).toMatch(
      /^::error title=descriptor-mediatype::.*x\.a\\n::error title=pwned::injected/m
    )
    expect(r.stdout).not.toMatch(/^\s*::error title=pwned/m)
  })

  it('fails the step on bad input with a message naming the input, no stack, no layout', async () => {
    const output = path.join(tmp, 'bad-layout')
    const r = run('bad', { layers: 'site:relative/dest', output })
    expect(r.status).toBe(1)
    expect(r.stdout).toMatch(/::error::layers: .*site:relative\/dest/)
    expect(r.stdout).not.toMatch(/\n\s+at /)
    await expect(fs.access(output)).rejects.toThrow()
    const out = parseOutputs(await fs.readFile(r.outFile, 'utf8').catch(() => ''))
    expect(out.valid).toBe('false')
  })
})
