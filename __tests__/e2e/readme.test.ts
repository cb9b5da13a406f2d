/**
 * The README's workflows, run (issue 14: "the README examples are the ones the tests run"). Each
 * example is found by its heading; every step of it that uses Lading runs as the runner runs it
 * (the bundled action, INPUT_* variables, GITHUB_OUTPUT, RUNNER_TEMP), in a job directory holding
 * what the workflow's earlier steps would have made there, against a real registry on 127.0.0.1
 * and a stand-in `docker`. What GitHub puts in `${{ … }}` is given a plausible value, named below
 * for each example; the public registries the examples name (ghcr.io, docker.io, gcr.io) are that
 * local registry, and the base images they name are stand-ins skopeo pushed there first. Each
 * scenario says which of the workflow's other steps it stands in for, and how. A README example
 * edited into one that does not run fails the test named after its heading.
 */
import { beforeAll, describe, expect, it } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { INPUT_DEFAULTS, INPUT_NAMES, isInputName, type GivenInputs } from '../../src/app/inputs.js'
import { bundledCli } from '../helpers/cli.js'
import { parseOutputs, runAction } from '../helpers/action.js'
import { dockerStandIn, type DockerStandIn } from '../helpers/docker-stand-in.js'
import { useRegistry } from '../helpers/registries.js'
import type { TestRegistry } from '../helpers/registry-server.js'
import { trackedTempDirs } from '../helpers/transports-fixtures.js'
import { describeWithTools } from '../helpers/tools.js'

const README = path.resolve(import.meta.dirname, '..', '..', 'README.md')

// ---------------------------------------------------------------------------------------------
// Reading the README

/** One example: a heading, its yaml, and the `with:` inputs of its Lading steps in order. */
export interface Example {
  heading: string
  yaml: string
  steps: GivenInputs[]
}

/** The README's examples: each heading whose yaml blocks have a step that uses Lading. */
export function readmeExamples(markdown: string): Example[] {
  const examples = new Map<string, Example>()
  const lines = markdown.split('\n')
  let heading = ''
  for (let i = 0; i < lines.length; i++) {
    const h = /^#{1,6} (.+)$/.exec(lines[i])
    if (h) heading = h[1].trim()
    if (!lines[i].startsWith('```')) continue
    const end = lines.findIndex((l, j) => j > i && l.startsWith('```'))
    if (end < 0) break
    const yaml = lines.slice(i + 1, end).join('\n')
    const isYaml = lines[i] === '```yaml'
    i = end
    const steps = isYaml ? ladingSteps(yaml) : []
    if (!steps.length) continue
    const example = examples.get(heading) ?? { heading, yaml: '', steps: [] }
    example.yaml += yaml + '\n'
    example.steps.push(...steps)
    examples.set(heading, example)
  }
  return [...examples.values()]
}

function unquote(v: string): string {
  const t = v.trim()
  if ((t.startsWith("'") && t.endsWith("'")) || (t.startsWith('"') && t.endsWith('"')))
    return t.slice(1, -1)
  return t
}

/** The `with:` inputs of each step of a workflow's yaml that uses Lading. */
export function ladingSteps(yaml: string): GivenInputs[] {
  const steps: GivenInputs[] = []
  const lines = yaml.split('\n')
  lines.forEach((line, i) => {
    if (!/uses: \S*lading@/.test(line)) return
    const stepIndent = line.search(/\S/)
    const withLine = lines.findIndex((l, j) => j > i && /^\s*with:\s*$/.test(l))
    const next = lines.findIndex(
      (l, j) => j > i && /^\s*- /.test(l) && l.search(/\S/) <= stepIndent
    )
    // A step without a block `with:` has no inputs: an empty step, which no example means.
    if (withLine < 0 || (next >= 0 && withLine > next)) steps.push({})
    else steps.push(withInputs(lines, withLine))
  })
  return steps
}

function withInputs(lines: string[], withLine: number): GivenInputs {
  const inputs: Record<string, string> = {}
  const indent = lines[withLine + 1]?.search(/\S/) ?? 0
  for (let j = withLine + 1; j < lines.length; j++) {
    const l = lines[j]
    if (l.trim() === '') continue
    if (l.search(/\S/) < indent) break
    const m = /^\s*([a-z-]+):\s?(.*)$/.exec(l)
    if (!m || l.search(/\S/) !== indent) continue
    const [, key, rest] = m
    if (rest.trim() === '|') {
      const body: string[] = []
      while (
        j + 1 < lines.length &&
        (lines[j + 1].trim() === '' || lines[j + 1].search(/\S/) > indent)
      )
        body.push(lines[++j].trim())
      inputs[key] = body.join('\n')
    } else inputs[key] = unquote(rest.replace(/\s+#.*$/, ''))
  }
  return inputs as GivenInputs
}

/** The rows of the table under `## title`, each as its cells. */
export function tableRows(markdown: string, title: string): string[][] {
  const section = markdown.split(`\n## ${title}\n`)[1]?.split(/\n## /)[0] ?? ''
  return section
    .split('\n')
    .filter(l => l.startsWith('|') && !/^\|\s*-/.test(l))
    .slice(1) // the header
    .map(l =>
      l
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map(c => c.trim())
    )
}

/** The names a table's first cells give, in backticks (`entrypoint`, `cmd` is two). */
const namesOf = (rows: string[][]): string[] =>
  rows.flatMap(r => [...r[0].matchAll(/`([^`]+)`/g)].map(m => m[1]))

/** action.yml's outputs, by name (a line parser: the file is plain YAML we own). */
function actionYmlOutputs(): string[] {
  const text = fs.readFileSync(path.resolve(import.meta.dirname, '..', '..', 'action.yml'), 'utf8')
  const section = text.split(/^outputs:\n/m)[1].split(/^\S/m)[0]
  return [...section.matchAll(/^ {2}([a-z-]+):\s*$/gm)].map(m => m[1])
}

// ---------------------------------------------------------------------------------------------
// What stands in for GitHub

/** An owner and a name with capitals, as GitHub allows and registries refuse. */
const REPOSITORY = 'My-Org/App'
/** What `ghcr.io/${GITHUB_REPOSITORY,,}` and docker/metadata-action's `images` make of it. */
const IMAGE = `ghcr.io/${REPOSITORY.toLowerCase()}`
const SHA = '5f3c0ffee1d2c3b4a5968778695a4b3c2d1e0f9a'

/** The `github` context of a run on `event`, by the expressions the examples write. */
function github(event: 'push' | 'pull_request'): Record<string, string> {
  return {
    'github.repository': REPOSITORY,
    'github.sha': SHA,
    "github.event_name != 'pull_request'": String(event !== 'pull_request')
  }
}

/** What GITHUB_* the runner sets for a step (the action reads the repository and the commit). */
function runnerEnv(event: 'push' | 'pull_request', workspace: string): Record<string, string> {
  return {
    GITHUB_ACTIONS: 'true',
    GITHUB_REPOSITORY: REPOSITORY,
    GITHUB_SHA: SHA,
    GITHUB_EVENT_NAME: event,
    GITHUB_WORKSPACE: workspace
  }
}

/** Each `${{ expr }}` replaced by its value; an expression without one stops the example. */
function expand(heading: string, text: string, values: Record<string, string>): string {
  return text.replace(/\$\{\{\s*([^}]*?)\s*\}\}/g, (_m, expr: string) => {
    if (!Object.hasOwn(values, expr))
      throw new Error(
        `README example "${heading}": no stand-in value for \${{ ${expr} }}; give it one in readme.test.ts`
      )
    return values[expr]
  })
}

/** The inputs that name registry references; the public registries in them become `local`. */
const REFERENCE_INPUTS = new Set(['from', 'tags', 'cache-from'])
function toLocal(text: string, local: string): string {
  return text.replace(/(?<![\w.-])(?:ghcr\.io|docker\.io|gcr\.io)\//g, `${local}/`)
}

// ---------------------------------------------------------------------------------------------
// The registry and its clients

let tmp: string
let registry: TestRegistry

/** `ref` on the local registry, for one that names a public one. */
const local = (ref: string): string => toLocal(ref, registry.host)

function skopeo(args: string[]): string {
  return execFileSync('skopeo', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
}

/** What skopeo, an independent client, reads from the registry for `ref` (public or local). */
function pushed(ref: string) {
  const raw = skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${local(ref)}`])
  return {
    digest: 'sha256:' + createHash('sha256').update(raw).digest('hex'),
    doc: JSON.parse(raw)
  }
}

/** The config skopeo reads for one architecture of `ref`. */
function pushedConfig(ref: string, arch: string) {
  return JSON.parse(
    skopeo([
      'inspect',
      '--config',
      '--tls-verify=false',
      '--override-arch',
      arch,
      `docker://${local(ref)}`
    ])
  )
}

/** Blob uploads the registry has answered so far (its access log). */
function blobUploads(): number {
  return (registry.log().match(/"(?:POST|PATCH|PUT) \/v2\/[^"]*\/blobs\/uploads/g) ?? []).length
}

/**
 * Stand-ins for the public bases the examples build on, pushed to the local registry under their
 * own paths by skopeo: two platforms each, one small layer, the config the real image has where
 * an example relies on it.
 */
const BASES: Array<{ ref: string; config: string[] }> = [
  {
    ref: 'docker.io/library/node:22-slim',
    config: ['--env', 'PATH=/usr/local/bin:/usr/bin:/bin', '--cmd', '["node"]']
  },
  { ref: 'gcr.io/distroless/static-debian12:nonroot', config: ['--user', '65532'] },
  { ref: 'gcr.io/distroless/nodejs22-debian12', config: ['--entrypoint', '["/nodejs/bin/node"]'] }
]

function pushBase(ref: string, config: string[]): void {
  const dir = fs.mkdtempSync(path.join(tmp, 'base-'))
  fs.mkdirSync(path.join(dir, 'rootfs', 'etc'), { recursive: true })
  fs.writeFileSync(path.join(dir, 'rootfs', 'etc', 'os-release'), `NAME="stand-in for ${ref}"\n`)
  const layout = path.join(dir, 'layout')
  const args = ['build', '--platforms', 'linux/amd64,linux/arm64', ...config]
  args.push('--layers', `${path.join(dir, 'rootfs')}:/`, '--created', '2024-01-01T00:00:00Z')
  execFileSync(process.execPath, [bundledCli, ...args, '--output', layout], {
    stdio: 'ignore',
    env: { PATH: process.env.PATH }
  })
  skopeo([
    'copy',
    '--all',
    '--dest-tls-verify=false',
    `oci:${layout}:latest`,
    `docker://${local(ref)}`
  ])
}

// ---------------------------------------------------------------------------------------------
// A job

const slug = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]+/g, '-')

/** One job of an example's workflow: its workspace, its runner's temp dir, its `docker`. */
class Job {
  readonly dir: string
  readonly temp: string
  readonly docker: DockerStandIn
  private runs = 0

  constructor(
    readonly example: Example,
    name: string
  ) {
    const root = path.join(tmp, slug(example.heading), name)
    this.dir = path.join(root, 'work')
    this.temp = path.join(root, 'temp')
    fs.mkdirSync(this.dir, { recursive: true })
    fs.mkdirSync(this.temp, { recursive: true })
    this.docker = dockerStandIn(root)
  }

  /** A file an earlier step made, relative to the workspace. */
  write(file: string, content: string, mode = 0o644): string {
    const p = path.join(this.dir, file)
    fs.mkdirSync(path.dirname(p), { recursive: true })
    fs.writeFileSync(p, content, { mode })
    return p
  }

  /**
   * Runs one of the example's Lading steps, its `${{ … }}` given `values`, and returns its
   * outputs; throws, naming the example, unless the step succeeds with an image's outputs.
   */
  lading(
    step: GivenInputs,
    values: Record<string, string>,
    event: 'push' | 'pull_request' = 'push'
  ): Record<string, string> {
    const heading = this.example.heading
    const fail = (what: string): never => {
      throw new Error(`README example "${heading}": ${what}`)
    }
    const inputs: Record<string, string> = {}
    for (const [name, value] of Object.entries(step)) {
      // A runner passes an input action.yml lacks with only a warning, and the action never reads it.
      if (!isInputName(name)) fail(`\`${name}\` is not an input of action.yml`)
      const v = expand(heading, value as string, values)
      inputs[name] = REFERENCE_INPUTS.has(name) ? local(v) : v
    }
    const r = runAction(this.dir, `lading-${++this.runs}`, inputs, {
      ...runnerEnv(event, this.dir),
      PATH: `${this.docker.dir}${path.delimiter}${process.env.PATH}`,
      // No docker config of the machine answers for the registry.
      HOME: this.dir,
      RUNNER_TEMP: this.temp
    })
    if (r.status !== 0) {
      const errors = (r.stdout ?? '').split('\n').filter(l => l.startsWith('::error'))
      fail(
        `its Lading step failed (exit ${r.status}) with inputs ${JSON.stringify(inputs)}:\n` +
          [...errors, (r.stderr ?? '').trim()].join('\n')
      )
    }
    const out = parseOutputs(fs.readFileSync(r.outFile, 'utf8'))
    const digest = /^sha256:[0-9a-f]{64}$/
    if (out.valid !== 'true') fail(`valid is ${out.valid}`)
    if (!digest.test(out.digest ?? '')) fail(`no digest output: ${out.digest}`)
    if (!digest.test(out.imageid ?? '')) fail(`no imageid output: ${out.imageid}`)
    const perPlatform = JSON.parse(out['platform-digests'] ?? '{}') as Record<string, string>
    if (
      Object.keys(perPlatform).join(',') !== out.platforms ||
      !Object.values(perPlatform).every(d => digest.test(d))
    )
      fail(`platform-digests ${out['platform-digests']} for platforms ${out.platforms}`)
    return out
  }
}

// ---------------------------------------------------------------------------------------------
// The examples, by heading: what their workflows' other steps stand for, and what each run shows

type Scenario = (example: Example) => void

interface PushedIndex {
  manifests: Array<{ digest: string; platform: { os: string; architecture: string } }>
}

/** The manifests of a pushed index, by platform. */
function manifestsOf(index: PushedIndex): Record<string, string> {
  return Object.fromEntries(
    index.manifests.map(m => [`${m.platform.os}/${m.platform.architecture}`, m.digest])
  )
}

const scenarios: Record<string, Scenario> = {
  /**
   * Stood in: actions/checkout and `npm ci && npm run build` (package.json and dist/ written);
   * docker/metadata-action (its tags, labels and annotations for a push to main, given); the
   * `echo` after it. Run on a push (pushed), then on a pull request with `load: true` added, as
   * the note under the example says (built, validated and loaded, not pushed).
   */
  'Build and push': example => {
    expect(example.steps).toHaveLength(1)
    const [step] = example.steps
    const job = new Job(example, 'image')
    job.write('package.json', '{ "name": "app", "version": "1.0.0" }\n')
    job.write('dist/server.js', 'require("node:http").createServer().listen(8080)\n')
    const values = {
      'steps.meta.outputs.tags': `${IMAGE}:main`,
      'steps.meta.outputs.labels': `org.opencontainers.image.title=App\norg.opencontainers.image.revision=${SHA}`,
      'steps.meta.outputs.annotations': `manifest:org.opencontainers.image.title=App\nmanifest:org.opencontainers.image.revision=${SHA}`
    }
    const out = job.lading(step, { ...github('push'), ...values })

    const image = pushed(`${IMAGE}:main`)
    expect(image.digest).toBe(out.digest)
    expect(out['image-refs']).toBe(JSON.stringify([`${local(IMAGE)}:main@${out.digest}`]))
    expect(manifestsOf(image.doc)).toEqual(JSON.parse(out['platform-digests']))
    expect(Object.keys(JSON.parse(out['platform-digests']))).toEqual(['linux/amd64', 'linux/arm64'])
    const config = pushedConfig(`${IMAGE}:main`, 'arm64')
    expect(config.config).toMatchObject({
      WorkingDir: '/app',
      User: '1000',
      Cmd: ['node', '/app/server.js'],
      Labels: { 'org.opencontainers.image.title': 'App' }
    })
    const base = pushedConfig('docker.io/library/node:22-slim', 'arm64')
    expect(config.rootfs.diff_ids.slice(0, -2)).toEqual(base.rootfs.diff_ids)

    const pr = job.lading(
      { ...step, load: 'true' },
      { ...github('pull_request'), ...values },
      'pull_request'
    )
    expect(pr.digest).toBe(out.digest)
    expect(pr['image-refs']).toBe('[]')
    expect(job.docker.calls()).toEqual([expect.stringMatching(/^load --input \S+$/)])
    // Two platforms: Docker is handed an oci-archive holding the index.
    const loaded = skopeo(['inspect', '--raw', `oci-archive:${job.docker.received}`])
    expect('sha256:' + createHash('sha256').update(loaded).digest('hex')).toBe(out.digest)
  },

  /**
   * Stood in: the `go build` loop (dist/linux-amd64/app and dist/linux-arm64/app written, each a
   * different file).
   */
  'Cross-compiled, multi-platform in one step': example => {
    expect(example.steps).toHaveLength(1)
    const job = new Job(example, 'image')
    for (const arch of ['amd64', 'arm64'])
      job.write(`dist/linux-${arch}/app`, `#!/bin/sh\necho built for ${arch}\n`, 0o644)
    const out = job.lading(example.steps[0], github('push'))

    const tag = JSON.parse(out['image-refs'])[0].split('@')[0] as string
    const image = pushed(tag)
    expect(image.digest).toBe(out.digest)
    expect(manifestsOf(image.doc)).toEqual(JSON.parse(out['platform-digests']))
    const amd64 = pushedConfig(tag, 'amd64')
    const arm64 = pushedConfig(tag, 'arm64')
    for (const c of [amd64, arm64])
      expect(c.config).toMatchObject({ Entrypoint: ['/app'], User: '65532' })
    // Each platform has its own binary's layer on the base's.
    expect(amd64.rootfs.diff_ids).toHaveLength(2)
    expect(amd64.rootfs.diff_ids[0]).toBe(arm64.rootfs.diff_ids[0])
    expect(amd64.rootfs.diff_ids[1]).not.toBe(arm64.rootfs.diff_ids[1])
  },

  /**
   * Stood in: one job per entry of the matrix (its own workspace and temp dir), each with
   * actions/checkout and `make dist` (dist/server written) and the `repo` step (its output
   * given); upload-artifact and download-artifact (the digests handed over in job order); the
   * `from` step (its lines made as its shell loop makes them); docker/metadata-action (tags and
   * index-level annotations given).
   */
  'Merge matrix jobs into one multi-platform image': example => {
    expect(example.steps).toHaveLength(2)
    const [build, merge] = example.steps
    const matrix = [...example.yaml.matchAll(/^\s*- \{ (.+) \}\s*$/gm)].map(
      m =>
        Object.fromEntries(m[1].split(/,\s*/).map(kv => kv.split(/:\s*/))) as Record<string, string>
    )
    expect(matrix.map(m => m.platform)).toEqual(['linux/amd64', 'linux/arm64'])

    const digests = matrix.map((entry, i) => {
      const job = new Job(example, `build-${i}`)
      job.write('dist/server', `#!/bin/sh\necho ${entry.platform}\n`, 0o755)
      const out = job.lading(build, {
        ...github('push'),
        'matrix.platform': entry.platform,
        'steps.repo.outputs.name': IMAGE
      })
      expect(JSON.parse(out['image-refs'])).toEqual([`${local(IMAGE)}@${out.digest}`])
      expect(pushed(`${IMAGE}@${out.digest}`).digest).toBe(out.digest)
      return out.digest
    })

    const uploads = blobUploads()
    expect(uploads).toBeGreaterThan(0) // the build jobs' layers and configs
    const job = new Job(example, 'merge')
    const out = job.lading(merge, {
      ...github('push'),
      'steps.from.outputs.lines': digests.map(d => `${IMAGE}@${d}`).join('\n'),
      'steps.meta.outputs.tags': `${IMAGE}:main`,
      'steps.meta.outputs.annotations': 'index:org.opencontainers.image.title=App'
    })
    // "No blob moves again."
    expect(blobUploads()).toBe(uploads)
    expect(JSON.parse(out['platform-digests'])).toEqual({
      'linux/amd64': digests[0],
      'linux/arm64': digests[1]
    })
    const index = pushed(`${IMAGE}:main`)
    expect(index.digest).toBe(out.digest)
    expect(manifestsOf(index.doc)).toEqual(JSON.parse(out['platform-digests']))
    expect(index.doc.annotations).toMatchObject({ 'org.opencontainers.image.title': 'App' })
  },

  /**
   * Stood in: actions/checkout and `make image.oci.tar` (skopeo copies the amd64 image of a
   * stand-in base into image.oci.tar); upload-artifact (the report it would upload is read).
   */
  'Gate pull requests on the OCI spec': example => {
    expect(example.steps).toHaveLength(1)
    const job = new Job(example, 'validate')
    const archive = path.join(job.dir, 'image.oci.tar')
    const base = `docker://${local('docker.io/library/node:22-slim')}`
    skopeo([
      'copy',
      '--override-arch',
      'amd64',
      '--src-tls-verify=false',
      base,
      `oci-archive:${archive}`
    ])
    const out = job.lading(example.steps[0], github('pull_request'), 'pull_request')

    const raw = skopeo(['inspect', '--raw', `oci-archive:${archive}`])
    expect(out.digest).toBe('sha256:' + createHash('sha256').update(raw).digest('hex'))
    expect(out.imageid).toBe(JSON.parse(raw).config.digest)
    const report = JSON.parse(fs.readFileSync(out.report, 'utf8'))
    expect(report).toMatchObject({ valid: true, errors: 0, warnings: 0 })
  },

  /**
   * Stood in: actions/checkout and `npm ci && npm run build` (dist/ written);
   * anchore/sbom-action (a small SPDX document written as sbom.spdx.json). Not run:
   * actions/attest-build-provenance and cosign, which need GitHub's OIDC token and Sigstore; what
   * they would sign, `$IMAGE@digest`, is read back from the registry.
   */
  'Supply chain: SBOM, provenance, signature': example => {
    expect(example.steps).toHaveLength(1)
    const image = /^\s*IMAGE: (\S+)/m.exec(example.yaml)?.[1] ?? ''
    const job = new Job(example, 'image')
    job.write('dist/server.js', 'console.log("hi")\n')
    job.write(
      'sbom.spdx.json',
      JSON.stringify({ spdxVersion: 'SPDX-2.3', SPDXID: 'SPDXRef-DOCUMENT', name: 'app' }) + '\n'
    )
    const out = job.lading(example.steps[0], { ...github('push'), 'env.IMAGE': image })

    expect(pushed(`${image}:${SHA}`).digest).toBe(out.digest)
    expect(pushed(`${image}@${out.digest}`).digest).toBe(out.digest)
    const attached = JSON.parse(out.attached) as string[]
    expect(attached).toHaveLength(1)
    // The local registry has no referrers API: the referrer is in the fallback tag.
    const referrers = pushed(`${image}:${out.digest.replace(':', '-')}`).doc
    expect(referrers.manifests).toEqual([
      expect.objectContaining({ digest: attached[0], artifactType: 'application/spdx+json' })
    ])
    expect(pushed(`${image}@${attached[0]}`).doc.subject.digest).toBe(out.digest)
  }
}

// ---------------------------------------------------------------------------------------------

describe('the README', () => {
  const markdown = fs.readFileSync(README, 'utf8')
  const examples = readmeExamples(markdown)

  it('has a scenario for every example with a Lading step, and an example for every scenario', () => {
    expect(examples.map(e => e.heading).sort()).toEqual(Object.keys(scenarios).sort())
  })

  describeWithTools(['docker-registry', 'skopeo'], 'examples, run', () => {
    const tmpDirs = trackedTempDirs('lading-readme-')
    registry = useRegistry('none')
    beforeAll(async () => {
      tmp = await tmpDirs()
      for (const base of BASES) pushBase(base.ref, base.config)
    })

    it.each(Object.keys(scenarios))('%s', heading => {
      const example = examples.find(e => e.heading === heading)
      if (!example) throw new Error(`the README has no example headed "${heading}"`)
      scenarios[heading](example)
    })
  })

  it('lists every input of action.yml in its inputs table, once, with its default', () => {
    const rows = tableRows(markdown, 'Inputs')
    expect(namesOf(rows).sort()).toEqual([...INPUT_NAMES].sort())
    for (const row of rows)
      for (const name of namesOf([row])) {
        const def = INPUT_DEFAULTS[name as keyof typeof INPUT_DEFAULTS]
        if (def) expect([name, row[1]]).toEqual([name, expect.stringContaining(`\`${def}\``)])
      }
  })

  it('lists every output of action.yml in its outputs table, once', () => {
    expect(namesOf(tableRows(markdown, 'Outputs')).sort()).toEqual(actionYmlOutputs().sort())
  })

  it('finds the steps of an example and their inputs as a user wrote them (the parser itself)', () => {
    const md = [
      '## An example',
      '',
      '```yaml',
      'steps:',
      '  - uses: OWNER/lading@v1',
      '    with:',
      '      layers: |',
      '        dist:/app',
      '        static:/srv',
      '      cmd: \'["node"]\'',
      "      push: ${{ github.event_name != 'pull_request' }}",
      '  - run: echo done',
      '  - uses: OWNER/lading@v1',
      '```',
      '',
      '```sh',
      '# not a heading',
      '```'
    ].join('\n')
    expect(readmeExamples(md)).toEqual([
      {
        heading: 'An example',
        yaml: expect.any(String),
        steps: [
          {
            layers: 'dist:/app\nstatic:/srv',
            cmd: '["node"]',
            push: "${{ github.event_name != 'pull_request' }}"
          },
          {}
        ]
      }
    ])
  })

  it('stands in for GitHub explicitly: an expression without a value, and the public registries', () => {
    expect(() => expand('X', '${{ github.actor }}', github('push'))).toThrow(
      'README example "X": no stand-in value for ${{ github.actor }}'
    )
    expect(
      toLocal('docker://ghcr.io/o/a:1\ndocker.io/library/node\nquay.io/x', '127.0.0.1:5')
    ).toBe('docker://127.0.0.1:5/o/a:1\n127.0.0.1:5/library/node\nquay.io/x')
  })
})
