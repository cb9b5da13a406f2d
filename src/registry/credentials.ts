import { execFile } from 'node:child_process'
import * as fs from 'node:fs/promises'
import * as os from 'node:os'
import * as path from 'node:path'
import { Secrets } from '../util/secrets.js'
import { LadingError, messageOf } from '../util/errors.js'
import { DOCKER_HUB, DOCKER_HUB_API, canonicalRegistry } from '../oci/reference.js'
import { parseJSON, isObject } from '../oci/json.js'

export interface Credentials {
  username: string
  password: string
}

export interface AuthOptions {
  username?: string
  password?: string
  githubToken?: string
  insecureRegistries?: string[]
  /**
   * The registries the username/password inputs belong to (the push targets'). When set they
   * are offered to those registries only, so a push target's password never reaches a base
   * image's registry; `[]` offers them to none. Undefined offers them to every registry.
   */
  credentialsRegistries?: string[]
  /** Where every credential met is added, to be masked and redacted; a private set when unset. */
  secrets?: Secrets
}

/** Credentials for one registry and, for messages, where they came from (never the secret). */
export interface ResolvedCredentials {
  credentials?: Credentials
  /** An OAuth2 refresh token (docker config `identitytoken`), traded at the token realm. */
  identityToken?: string
  source: string
  /**
   * Set when the username/password inputs were given but belong to other registries (these),
   * so a refusal can say why they were not used.
   */
  inputsFor?: string[]
}

/** The keys docker writes for one registry: Docker Hub has historically used several. */
function registryKeys(registry: string): string[] {
  if (canonicalRegistry(registry) === DOCKER_HUB)
    return ['https://index.docker.io/v1/', 'index.docker.io', DOCKER_HUB, DOCKER_HUB_API]
  return [registry]
}

/** `https://ghcr.io/v1/` → `ghcr.io`: docker config keys may carry a scheme and a path. */
function hostOfKey(key: string): string {
  return key.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '')
}

function findKey<T>(map: Record<string, T> | undefined, registry: string): T | undefined {
  if (!map) return undefined
  const wanted = registryKeys(registry).map(hostOfKey)
  for (const [key, value] of Object.entries(map)) if (wanted.includes(hostOfKey(key))) return value
  return undefined
}

interface DockerConfig {
  auths?: Record<
    string,
    { auth?: string; username?: string; password?: string; identitytoken?: string }
  >
  credsStore?: string
  credHelpers?: Record<string, string>
}

export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.DOCKER_CONFIG || path.join(os.homedir(), '.docker')
  return path.join(dir, 'config.json')
}

/** Runs `docker-credential-HELPER get`, which reads the server on stdin and answers JSON. */
async function fromHelper(
  helper: string,
  registry: string,
  env: NodeJS.ProcessEnv,
  secrets: Secrets
): Promise<ResolvedCredentials | undefined> {
  const bin = `docker-credential-${helper}`
  const server = registry === DOCKER_HUB ? 'https://index.docker.io/v1/' : registry
  const out = await new Promise<string | undefined>((resolve, reject) => {
    const child = execFile(bin, ['get'], { timeout: 30_000, env }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout)
      // Helpers say "credentials not found in native keychain" when they have nothing for this host.
      if (/not found/i.test(stdout + stderr)) return resolve(undefined)
      reject(
        new LadingError(
          `the docker credential helper ${bin} failed for ${registry}: ${messageOf(err)}; ` +
            'check that it is installed and on PATH, or remove it from the docker config'
        )
      )
    })
    child.stdin?.end(server)
  })
  if (!out) return undefined
  // JSON.parse's reason quotes the text, which holds the secret: it is left out.
  const answer = parseJSON(out).value
  if (!isObject(answer))
    throw new LadingError(`the docker credential helper ${bin} answered something that is not JSON`)
  const parsed = answer as { Username?: string; Secret?: string }
  if (!parsed.Secret) return undefined
  const source = `the docker credential helper ${bin}`
  secrets.addCredential(parsed.Secret, parsed.Username ?? '')
  // Helpers return an identity token under the pseudo user name <token>.
  if (parsed.Username === '<token>') return { identityToken: parsed.Secret, source }
  return { credentials: { username: parsed.Username ?? '', password: parsed.Secret }, source }
}

async function fromDockerConfig(
  registry: string,
  env: NodeJS.ProcessEnv,
  secrets: Secrets
): Promise<ResolvedCredentials | undefined> {
  const file = dockerConfigPath(env)
  let text: string
  try {
    text = await fs.readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new LadingError(`the docker config ${file} cannot be read: ${messageOf(err)}`)
  }
  // JSON.parse's reason quotes the text, which holds credentials: it is left out.
  const value = parseJSON(text).value
  if (!isObject(value))
    throw new LadingError(`the docker config ${file} cannot be read: it is not a JSON object`)
  const config = value as DockerConfig
  // docker's order (cli/config/configfile GetCredentialsStore): the registry's credHelpers entry,
  // else the credsStore, else the auths entry. A store that knows nothing of the registry lets
  // the auths entry answer, which docker does not, but only ever finds more credentials.
  const helper = findKey(config.credHelpers, registry)
  if (helper) return fromHelper(helper, registry, env, secrets)
  if (config.credsStore) {
    const stored = await fromHelper(config.credsStore, registry, env, secrets)
    if (stored) return stored
  }
  const entry = findKey(config.auths, registry)
  const source = `the docker config ${file}`
  if (entry?.identitytoken) {
    secrets.addCredential(entry.identitytoken)
    return { identityToken: entry.identitytoken, source }
  }
  if (entry?.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    if (colon < 0)
      throw new LadingError(
        `the docker config ${file} has an "auth" for ${registry} that is not base64 of user:password`
      )
    const credentials = { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) }
    secrets.addCredential(credentials.password, credentials.username)
    secrets.add(entry.auth)
    return { credentials, source }
  }
  if (entry?.username && entry.password) {
    secrets.addCredential(entry.password, entry.username)
    return { credentials: { username: entry.username, password: entry.password }, source }
  }
  return undefined
}

/**
 * Where credentials for `registry` come from, first found wins: the username/password inputs;
 * docker's config.json (credHelpers, credsStore, auths), which docker/login-action writes; the
 * github-token input for ghcr.io; else none (anonymous).
 */
export async function resolveCredentials(
  registry: string,
  opts: AuthOptions,
  env: NodeJS.ProcessEnv = process.env
): Promise<ResolvedCredentials> {
  const secrets = opts.secrets ?? new Secrets()
  const forRegistries = opts.credentialsRegistries
  const inputsApply = !forRegistries || forRegistries.some(r => sameRegistry(r, registry))
  if (inputsApply && opts.password) {
    secrets.addCredential(opts.password, opts.username ?? '')
    return {
      credentials: { username: opts.username ?? '', password: opts.password },
      source: 'the username/password inputs'
    }
  }
  const inputsFor = opts.password && !inputsApply ? forRegistries : undefined
  const fromConfig = await fromDockerConfig(registry, env, secrets)
  if (fromConfig) return { ...fromConfig, ...(inputsFor && { inputsFor }) }
  if (registry === 'ghcr.io' && opts.githubToken) {
    const username = env.GITHUB_ACTOR || 'x-access-token'
    secrets.addCredential(opts.githubToken, username)
    return {
      credentials: { username, password: opts.githubToken },
      source: 'the github-token input',
      ...(inputsFor && { inputsFor })
    }
  }
  return {
    source: inputsFor
      ? 'no credentials (anonymous; the username/password inputs are for other registries)'
      : 'no credentials (anonymous; none in the inputs or the docker config)',
    ...(inputsFor && { inputsFor })
  }
}

function sameRegistry(a: string, b: string): boolean {
  return canonicalRegistry(a).toLowerCase() === canonicalRegistry(b).toLowerCase()
}
