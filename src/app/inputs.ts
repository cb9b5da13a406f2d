import { LadingError } from '../util/errors.js'
import type { FailOn } from '../validate/report.js'

/**
 * The action's inputs, their defaults as action.yml declares them (a test keeps the two equal), and
 * the parsing of list inputs. The runner fills in action.yml's defaults itself; running
 * `node dist/index.js` by hand does not, so the code applies them too.
 */
export const INPUT_DEFAULTS = {
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
  'cache-from': '',
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
} as const

/** The name of an input of action.yml: a misspelt one does not compile. */
export type InputName = keyof typeof INPUT_DEFAULTS

export const INPUT_NAMES = Object.keys(INPUT_DEFAULTS) as InputName[]

export function isInputName(name: string): name is InputName {
  return Object.hasOwn(INPUT_DEFAULTS, name)
}

/** Every input, defaults applied: what makePlan reads. */
export type RawInputs = Record<InputName, string>

/** The inputs given by name (the CLI's options), before defaults. */
export type GivenInputs = Partial<RawInputs>

/** The inputs of the environment, as the runner passes them (`INPUT_<NAME>`, hyphens kept). */
export function inputsFromEnv(env: NodeJS.ProcessEnv): RawInputs {
  const given: GivenInputs = {}
  for (const name of INPUT_NAMES)
    given[name] = env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`]
  return withDefaults(given)
}

function defaultFor(name: InputName): string {
  const d: string = INPUT_DEFAULTS[name]
  return d.includes('${{') ? '' : d
}

/** Applies defaults to inputs given by name: an input that is absent or blank takes its default. */
export function withDefaults(given: GivenInputs): RawInputs {
  const raw = {} as RawInputs
  for (const name of INPUT_NAMES) {
    const v = given[name]
    raw[name] = v !== undefined && v.trim() !== '' ? v : defaultFor(name)
  }
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

/** How severe a finding must be to fail the run. */
export function parseFailOn(value: string, name = 'fail-on'): FailOn {
  const v = value.trim().toLowerCase()
  if (v !== 'error' && v !== 'warning' && v !== 'never')
    throw new LadingError(`${name}: "${value}" is not one of error, warning, never`)
  return v
}
