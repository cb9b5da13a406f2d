import { LadingError } from '../util/errors.js'
import { digestProblem } from './digest.js'

/** An image reference HOST/REPOSITORY[:TAG][@DIGEST], normalised the way docker normalises it. */
export interface Reference {
  registry: string
  repository: string
  tag?: string
  digest?: string
}

export const DOCKER_HUB = 'docker.io'
/** Docker Hub's API lives on another host than the name users write. */
export const DOCKER_HUB_API = 'registry-1.docker.io'

/** image-layout.md's grammar of `org.opencontainers.image.ref.name`: components joined by `/`. */
const REF_NAME_COMPONENT = '[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*'
const LAYOUT_REF_NAME = new RegExp(`^${REF_NAME_COMPONENT}(?:/${REF_NAME_COMPONENT})*$`)

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/
const TAG = /^[\w][\w.-]{0,127}$/
const HOST =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$/

/**
 * Parses `[docker://]HOST/REPO[:TAG][@DIGEST]`. `alpine` becomes `docker.io/library/alpine:latest`
 * when `defaultTag` is set (it is for bases, not for names whose tag must be explicit).
 */
export function parseReference(input: string, opts: { defaultTag?: string } = {}): Reference {
  const raw = input.trim().replace(/^docker:\/\//, '')
  const fail = (why: string): never => {
    throw new LadingError(`"${input}" is not a valid image reference: ${why}`)
  }
  if (!raw) fail('it is empty')
  let rest = raw
  let digest: string | undefined
  const at = rest.indexOf('@')
  if (at >= 0) {
    digest = rest.slice(at + 1)
    rest = rest.slice(0, at)
    const problem = digestProblem(digest)
    if (problem) fail(`the digest ${problem.message}`)
  }
  let tag: string | undefined
  const lastSlash = rest.lastIndexOf('/')
  const colon = rest.lastIndexOf(':')
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1)
    rest = rest.slice(0, colon)
    if (!TAG.test(tag)) fail(`the tag "${tag}" is not [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`)
  }
  const parts = rest.split('/')
  let registry = DOCKER_HUB
  if (
    parts.length > 1 &&
    (parts[0].includes('.') || parts[0].includes(':') || parts[0] === 'localhost')
  ) {
    registry = parts.shift() as string
    if (!HOST.test(registry)) fail(`the registry host "${registry}" is not a host[:port]`)
  }
  registry = canonicalRegistry(registry)
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library')
  for (const p of parts) {
    if (!PATH_COMPONENT.test(p))
      fail(
        `the repository component "${p}" must be lower-case letters, digits and separators (. _ __ -)`
      )
  }
  const repository = parts.join('/')
  if (repository.length > 255) fail('the repository name is longer than 255 characters')
  if (!tag && !digest && opts.defaultTag) tag = opts.defaultTag
  return { registry, repository, tag, digest }
}

/** Whether `name` may be an image layout's `org.opencontainers.image.ref.name`. */
export function isLayoutRefName(name: string): boolean {
  return LAYOUT_REF_NAME.test(name)
}

/** The name a registry goes by: Docker Hub's several host names are all `docker.io`. */
export function canonicalRegistry(host: string): string {
  const h = host.toLowerCase()
  return h === 'index.docker.io' || h === DOCKER_HUB_API ? DOCKER_HUB : host
}

export function formatReference(ref: Reference): string {
  let s = `${ref.registry}/${ref.repository}`
  if (ref.tag) s += `:${ref.tag}`
  if (ref.digest) s += `@${ref.digest}`
  return s
}

/** HOST/REPO, the name without tag or digest. */
export function repositoryName(ref: Reference): string {
  return `${ref.registry}/${ref.repository}`
}

/** The host Lading talks to for a registry name (Docker Hub's API host differs from its name). */
export function registryApiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry
}
