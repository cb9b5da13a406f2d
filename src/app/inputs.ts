import { LadingError } from '../util/errors.js'

/**
 * The action's inputs, their defaults as action.yml declares them (a test keeps the two equal), and
 * the parsing of list inputs. The runner fills in action.yml's defaults itself; running
 * `node dist/index.js` by hand does not, so the code applies them too.
 */
export const INPUT_DEFAULTS: Record<string, string> = {
  from: 'scratch',
  platforms: '',
  layers: '',
  entrypoint: '',
  cmd: '',
  env: '',
  workdir: '',
  user: '',
  labels: '',
  annotations: '',
  'exposed-ports': '',
  created: '',
  compression: 'gzip',
  'compression-level': '',
  output: '',
  archive: '',
  'ref-name': 'latest',
  'fail-on': 'error',
  tags: '',
  push: '',
  'push-by-digest': 'false',
  username: '',
  password: '',
  // action.yml says `${{ github.token }}`, which only the runner can expand.
  'github-token': '${{ github.token }}',
  'insecure-registries': ''
}

export const INPUT_NAMES = Object.keys(INPUT_DEFAULTS)

export type RawInputs = Record<string, string>

/** The inputs of the environment, as the runner passes them (`INPUT_<NAME>`, hyphens kept). */
export function inputsFromEnv(env: NodeJS.ProcessEnv): RawInputs {
  const raw: RawInputs = {}
  for (const name of INPUT_NAMES) {
    const v = env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`]
    raw[name] = v !== undefined && v.trim() !== '' ? v : defaultFor(name)
  }
  return raw
}

function defaultFor(name: string): string {
  const d = INPUT_DEFAULTS[name]
  return d.includes('${{') ? '' : d
}

/** Applies defaults to inputs given by name (the CLI). */
export function withDefaults(given: RawInputs): RawInputs {
  const raw: RawInputs = {}
  for (const name of INPUT_NAMES)
    raw[name] =
      given[name] !== undefined && given[name].trim() !== '' ? given[name] : defaultFor(name)
  return raw
}

/** One item a line; blank lines and surrounding spaces ignored. `commas` also splits on commas. */
export function parseList(value: string, opts: { commas?: boolean } = {}): string[] {
  const lines = value.split(/\r?\n/)
  const items = opts.commas ? lines.flatMap(l => l.split(',')) : lines
  return items.map(s => s.trim()).filter(s => s !== '')
}

export function parseBool(name: string, value: string): boolean {
  const v = value.trim().toLowerCase()
  if (['true', 'yes', '1', 'on'].includes(v)) return true
  if (['false', 'no', '0', 'off', ''].includes(v)) return false
  throw new LadingError(`${name}: "${value}" is not true or false`)
}
