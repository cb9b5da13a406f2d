/**
 * Document-level rules: pure functions over parsed JSON. They never throw, whatever the input,
 * and report every problem they find rather than the first.
 */
import { DIGEST_GRAMMAR, digestOf, registeredAlgorithms } from '../oci/digest.js'
import { MediaType, layerCompression } from '../oci/mediatypes.js'
import { finding, type Finding } from './rules.js'
import { isObject } from './json.js'

/** The layer type of attestation manifests (buildkit provenance and SBOMs). */
const IN_TOTO = 'application/vnd.in-toto+json'

export const EMPTY_DIGEST =
  'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a'

const MEDIA_TYPE =
  /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const REF_COMPONENT = '[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*'
const REF_NAME = new RegExp(`^${REF_COMPONENT}(?:/${REF_COMPONENT})*$`)
const URI = /^[A-Za-z][A-Za-z0-9+.-]*:[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]*$/
const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))$/

const PREDEFINED_KEYS = new Set(
  [
    'created',
    'authors',
    'url',
    'documentation',
    'source',
    'version',
    'revision',
    'vendor',
    'licenses',
    'ref.name',
    'title',
    'description',
    'base.digest',
    'base.name'
  ].map(k => `org.opencontainers.image.${k}`)
)

/** Keys conversion.md defines for the runtime config (a config's Labels may carry them too). */
const CONVERSION_KEYS = new Set(
  [
    'os',
    'architecture',
    'variant',
    'os.version',
    'os.features',
    'author',
    'stopSignal',
    'exposedPorts'
  ].map(k => `org.opencontainers.image.${k}`)
)

export function at(location: string, part: string): string {
  return location ? `${location} ${part}` : part
}

function show(v: unknown): string {
  const s = JSON.stringify(v)
  if (s === undefined) return String(v)
  return s.length > 80 ? s.slice(0, 77) + '...' : s
}

export function isMediaType(v: unknown): v is string {
  return typeof v === 'string' && MEDIA_TYPE.test(v)
}

export function isRFC3339(v: unknown): boolean {
  if (typeof v !== 'string') return false
  const m = RFC3339.exec(v)
  if (!m) return false
  const [, y, mo, d, h, mi, s, oh, om] = m.map(Number)
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1] ?? 0
  return (
    mo >= 1 &&
    mo <= 12 &&
    d >= 1 &&
    d <= days &&
    h <= 23 &&
    mi <= 59 &&
    s <= 60 &&
    (oh === undefined || Number.isNaN(oh) || oh <= 23) &&
    (om === undefined || Number.isNaN(om) || om <= 59)
  )
}

/** Why `v` is not a digest per the grammar and the registered encodings, with its rule id. */
export function digestFinding(v: unknown): { rule: string; why: string } | undefined {
  if (typeof v !== 'string')
    return { rule: 'descriptor-digest', why: `is ${show(v)}, not a string` }
  if (!DIGEST_GRAMMAR.test(v))
    return { rule: 'descriptor-digest', why: `"${v}" does not match algorithm ":" encoded` }
  const [alg, enc] = v.split(':', 2)
  const len = registeredAlgorithms[alg]
  if (len !== undefined && !(enc.length === len && /^[a-f0-9]+$/.test(enc)))
    return {
      rule: 'descriptor-digest-encoding',
      why: `"${v}": ${alg} needs ${len} lower-case hex characters, found ${enc.length} characters${/[A-F]/.test(enc) ? ' with upper case' : ''}`
    }
  return undefined
}

export function isRegisteredAlgorithm(digest: string): boolean {
  return registeredAlgorithms[digest.split(':', 1)[0]] !== undefined
}

export interface DescriptorOptions {
  /** index entries may carry `platform` */
  platform?: boolean
}

/**
 * Checks one descriptor. Returns true when it is usable to fetch its blob (object with a string
 * media type, a verifiable or at least grammatical digest and an integer size).
 */
export function checkDescriptor(
  d: unknown,
  loc: string,
  out: Finding[],
  opts: DescriptorOptions = {}
): boolean {
  if (!isObject(d)) {
    out.push(finding('json-not-object', loc, `the descriptor is ${show(d)}, not an object`))
    return false
  }
  let usable = true
  if (d.mediaType === undefined) {
    out.push(finding('descriptor-mediatype', loc, '`mediaType` is missing'))
    usable = false
  } else if (!isMediaType(d.mediaType)) {
    out.push(
      finding(
        'descriptor-mediatype',
        loc,
        `\`mediaType\` ${show(d.mediaType)} is not an RFC 6838 type/subtype`
      )
    )
    usable = false
  }
  if (d.digest === undefined) {
    out.push(finding('descriptor-digest', loc, '`digest` is missing'))
    usable = false
  } else {
    const p = digestFinding(d.digest)
    if (p) {
      out.push(finding(p.rule, loc, `\`digest\` ${p.why}`))
      usable = false
    }
  }
  if (d.size === undefined) {
    out.push(finding('descriptor-size', loc, '`size` is missing'))
    usable = false
  } else if (typeof d.size !== 'number' || !Number.isInteger(d.size)) {
    out.push(finding('descriptor-size', loc, `\`size\` is ${show(d.size)}, not an integer`))
    usable = false
  } else if (d.size < 0) {
    out.push(
      finding('descriptor-size-negative', loc, `\`size\` is ${d.size}; a size cannot be negative`)
    )
  }
  if (d.urls !== undefined) {
    if (!Array.isArray(d.urls))
      out.push(finding('descriptor-urls', loc, `\`urls\` is ${show(d.urls)}, not an array`))
    else
      d.urls.forEach((u, i) => {
        if (typeof u !== 'string' || !URI.test(u) || /%(?![0-9A-Fa-f]{2})/.test(u))
          out.push(
            finding('descriptor-urls', loc, `\`urls[${i}]\` ${show(u)} is not an RFC 3986 URI`)
          )
        else if (!/^https?:/i.test(u))
          out.push(
            finding(
              'descriptor-urls-scheme',
              loc,
              `\`urls[${i}]\` "${u}" uses neither http nor https`
            )
          )
      })
  }
  if (d.data !== undefined) {
    if (typeof d.data !== 'string' || !BASE64.test(d.data))
      out.push(
        finding('descriptor-data', loc, `\`data\` ${show(d.data)} is not padded standard base64`)
      )
    else checkEmbedded(d, d.data, loc, out)
  }
  if (d.artifactType !== undefined && !isMediaType(d.artifactType))
    out.push(
      finding(
        'descriptor-artifacttype',
        loc,
        `\`artifactType\` ${show(d.artifactType)} is not an RFC 6838 type/subtype`
      )
    )
  if (d.annotations !== undefined) checkAnnotations(d.annotations, at(loc, 'annotations'), out)
  if (d.mediaType === MediaType.Empty && (d.digest !== EMPTY_DIGEST || d.size !== 2))
    out.push(
      finding(
        'descriptor-empty',
        loc,
        `the empty descriptor must have size 2 and digest ${EMPTY_DIGEST} (the content \`{}\`), found size ${show(d.size)} and digest ${show(d.digest)}`
      )
    )
  if (d.platform !== undefined && opts.platform) checkPlatform(d.platform, at(loc, 'platform'), out)
  return usable
}

function checkEmbedded(
  d: Record<string, unknown>,
  data: string,
  loc: string,
  out: Finding[]
): void {
  const bytes = Buffer.from(data, 'base64')
  if (typeof d.size === 'number' && bytes.length !== d.size)
    out.push(
      finding(
        'descriptor-data-mismatch',
        loc,
        `\`data\` decodes to ${bytes.length} bytes but \`size\` is ${d.size}`
      )
    )
  if (typeof d.digest === 'string' && !digestFinding(d.digest) && isRegisteredAlgorithm(d.digest)) {
    const actual = digestOf(bytes, d.digest.split(':', 1)[0])
    if (actual !== d.digest)
      out.push(
        finding(
          'descriptor-data-mismatch',
          loc,
          `\`data\` has digest ${actual}, not the descriptor's ${d.digest}`
        )
      )
  }
}

export function checkPlatform(p: unknown, loc: string, out: Finding[]): void {
  if (!isObject(p)) {
    out.push(finding('platform-required', loc, `the platform is ${show(p)}, not an object`))
    return
  }
  for (const k of ['architecture', 'os'])
    if (typeof p[k] !== 'string')
      out.push(
        finding(
          'platform-required',
          loc,
          p[k] === undefined ? `\`${k}\` is missing` : `\`${k}\` is ${show(p[k])}, not a string`
        )
      )
  for (const k of ['os.version', 'variant'])
    if (p[k] !== undefined && typeof p[k] !== 'string')
      out.push(finding('platform-type', loc, `\`${k}\` is ${show(p[k])}, not a string`))
  const f = p['os.features']
  if (f !== undefined && !(Array.isArray(f) && f.every(x => typeof x === 'string')))
    out.push(
      finding('platform-type', loc, `\`os.features\` is ${show(f)}, not an array of strings`)
    )
  if (p.features !== undefined)
    out.push(
      finding(
        'platform-features-reserved',
        loc,
        '`features` is reserved for future versions of the spec'
      )
    )
}

export function checkAnnotations(
  a: unknown,
  loc: string,
  out: Finding[],
  what = 'annotations'
): void {
  if (!isObject(a)) {
    out.push(finding('annotations-type', loc, `${what} is ${show(a)}, not a map of strings`))
    return
  }
  for (const [k, v] of Object.entries(a)) {
    if (typeof v !== 'string') {
      out.push(finding('annotations-type', loc, `the value of "${k}" is ${show(v)}, not a string`))
      continue
    }
    if (k === '')
      out.push(
        finding('annotation-key-empty', loc, 'a key is the empty string; keys should be namespaced')
      )
    // "While the value MUST be present, it MAY be an empty string" holds for pre-defined keys too.
    if (v === '') continue
    if (k === 'org.opencontainers.image.created' && !isRFC3339(v))
      out.push(finding('annotation-created', loc, `"${k}" is "${v}", not an RFC 3339 date-time`))
    else if (k === 'org.opencontainers.image.base.digest') {
      const p = digestFinding(v)
      if (p) out.push(finding('annotation-base-digest', loc, `"${k}" ${p.why}`))
    } else if (k === 'org.opencontainers.image.ref.name' && !REF_NAME.test(v))
      out.push(
        finding(
          'annotation-ref-name',
          loc,
          `"${k}" is "${v}", which does not match the ref grammar (components of A-Za-z0-9 joined by -._:@+ or --, separated by /)`
        )
      )
    else if (
      k.startsWith('org.opencontainers.') &&
      !PREDEFINED_KEYS.has(k) &&
      !CONVERSION_KEYS.has(k)
    )
      out.push(
        finding(
          'annotation-reserved-key',
          loc,
          `"${k}" is in the namespace org.opencontainers reserves for its specifications, but no OCI image spec key has this name`
        )
      )
  }
}

function checkSchemaVersion(
  doc: Record<string, unknown>,
  rule: string,
  loc: string,
  out: Finding[]
): void {
  if (doc.schemaVersion !== 2)
    out.push(
      finding(
        rule,
        loc,
        doc.schemaVersion === undefined
          ? '`schemaVersion` is missing'
          : `\`schemaVersion\` is ${show(doc.schemaVersion)}, not 2`
      )
    )
}

function checkOwnMediaType(
  doc: Record<string, unknown>,
  oci: string,
  docker: string,
  rule: string,
  loc: string,
  out: Finding[]
): void {
  const mt = doc.mediaType
  if (mt === undefined || mt === oci) return
  if (mt === docker)
    out.push(
      finding(
        'mediatype-docker',
        loc,
        `\`mediaType\` is the Docker type ${docker}; OCI uses ${oci}`
      )
    )
  else out.push(finding(rule, loc, `\`mediaType\` is ${show(mt)}; it must be ${oci} when present`))
}

function checkArtifactType(doc: Record<string, unknown>, loc: string, out: Finding[]): void {
  if (doc.artifactType !== undefined && !isMediaType(doc.artifactType))
    out.push(
      finding(
        'manifest-artifacttype',
        loc,
        `\`artifactType\` ${show(doc.artifactType)} is not an RFC 6838 type/subtype`
      )
    )
}

function checkSubject(doc: Record<string, unknown>, loc: string, out: Finding[]): void {
  if (doc.subject === undefined) return
  if (!isObject(doc.subject))
    out.push(
      finding(
        'manifest-subject',
        at(loc, 'subject'),
        `\`subject\` is ${show(doc.subject)}, not a descriptor`
      )
    )
  else checkDescriptor(doc.subject, at(loc, 'subject'), out)
}

export function checkManifest(doc: unknown, loc: string, out: Finding[]): void {
  if (!isObject(doc)) {
    out.push(finding('json-not-object', loc, `the manifest is ${show(doc)}, not an object`))
    return
  }
  checkSchemaVersion(doc, 'manifest-schema-version', loc, out)
  checkOwnMediaType(
    doc,
    MediaType.ImageManifest,
    MediaType.DockerManifest,
    'manifest-mediatype',
    loc,
    out
  )
  checkArtifactType(doc, loc, out)
  const config = doc.config
  if (config === undefined) out.push(finding('manifest-config', loc, '`config` is missing'))
  else if (!isObject(config))
    out.push(finding('manifest-config', loc, `\`config\` is ${show(config)}, not a descriptor`))
  else checkDescriptor(config, at(loc, 'config'), out)
  const configType = isObject(config) ? config.mediaType : undefined
  if (configType === MediaType.Empty && doc.artifactType === undefined)
    out.push(
      finding(
        'manifest-artifacttype-missing',
        loc,
        '`config.mediaType` is the empty type, so `artifactType` must say what the artifact is'
      )
    )
  const layers = doc.layers
  if (layers === undefined) out.push(finding('manifest-layers', loc, '`layers` is missing'))
  else if (!Array.isArray(layers))
    out.push(finding('manifest-layers', loc, `\`layers\` is ${show(layers)}, not an array`))
  else {
    if (layers.length === 0)
      out.push(
        finding(
          'manifest-layers-empty',
          loc,
          '`layers` is empty; it must have at least one entry (an artifact without content uses the empty descriptor)'
        )
      )
    const isImage = configType === MediaType.ImageConfig || configType === MediaType.DockerConfig
    layers.forEach((l, i) => {
      const lloc = at(loc, `layers[${i}]`)
      checkDescriptor(l, lloc, out)
      if (
        isImage &&
        isObject(l) &&
        typeof l.mediaType === 'string' &&
        isMediaType(l.mediaType) &&
        layerCompression(l.mediaType) === undefined &&
        // buildkit's attestation manifests: an image config for unknown/unknown, in-toto layers.
        l.mediaType !== IN_TOTO
      )
        out.push(
          finding(
            'manifest-layer-mediatype',
            lloc,
            `an image layer of media type "${l.mediaType}", which is not a layer media type`
          )
        )
    })
  }
  checkSubject(doc, loc, out)
  if (doc.annotations !== undefined) checkAnnotations(doc.annotations, at(loc, 'annotations'), out)
}

export function checkIndex(doc: unknown, loc: string, out: Finding[]): void {
  if (!isObject(doc)) {
    out.push(finding('json-not-object', loc, `the index is ${show(doc)}, not an object`))
    return
  }
  checkSchemaVersion(doc, 'index-schema-version', loc, out)
  checkOwnMediaType(
    doc,
    MediaType.ImageIndex,
    MediaType.DockerManifestList,
    'index-mediatype',
    loc,
    out
  )
  checkArtifactType(doc, loc, out)
  const m = doc.manifests
  if (m === undefined) out.push(finding('index-manifests', loc, '`manifests` is missing'))
  else if (!Array.isArray(m))
    out.push(finding('index-manifests', loc, `\`manifests\` is ${show(m)}, not an array`))
  else m.forEach((d, i) => checkDescriptor(d, at(loc, `manifests[${i}]`), out, { platform: true }))
  checkSubject(doc, loc, out)
  if (doc.annotations !== undefined) checkAnnotations(doc.annotations, at(loc, 'annotations'), out)
}

export function checkLayoutFile(doc: unknown, loc: string, out: Finding[]): void {
  if (!isObject(doc)) {
    out.push(finding('layout-oci-layout', loc, `the content is ${show(doc)}, not a JSON object`))
    return
  }
  const v = doc.imageLayoutVersion
  if (typeof v !== 'string')
    out.push(
      finding(
        'layout-oci-layout',
        loc,
        v === undefined
          ? '`imageLayoutVersion` is missing'
          : `\`imageLayoutVersion\` is ${show(v)}, not a string`
      )
    )
  else if (v !== '1.0.0')
    out.push(
      finding(
        'layout-version',
        loc,
        `\`imageLayoutVersion\` is "${v}"; this spec version defines "1.0.0"`
      )
    )
}

type Check = (v: unknown) => boolean
const str: Check = v => typeof v === 'string'
const strArray: Check = v => Array.isArray(v) && v.every(x => typeof x === 'string')
const nullable =
  (c: Check): Check =>
  v =>
    v === null || c(v)
const mapOf =
  (c: Check): Check =>
  v =>
    isObject(v) && Object.values(v).every(c)
const CONTAINER_FIELDS: Record<string, [Check, string]> = {
  User: [str, 'a string'],
  ExposedPorts: [mapOf(isObject), 'a map of objects'],
  Env: [strArray, 'an array of strings'],
  Entrypoint: [nullable(strArray), 'an array of strings or null'],
  Cmd: [nullable(strArray), 'an array of strings or null'],
  Volumes: [nullable(mapOf(isObject)), 'a map of objects or null'],
  WorkingDir: [str, 'a string'],
  StopSignal: [str, 'a string'],
  ArgsEscaped: [v => typeof v === 'boolean', 'a boolean']
}

/** Returns the config's diff_ids when they are an array of strings, for the layer checks. */
export function checkConfig(doc: unknown, loc: string, out: Finding[]): void {
  if (!isObject(doc)) {
    out.push(finding('json-not-object', loc, `the config is ${show(doc)}, not an object`))
    return
  }
  for (const k of ['architecture', 'os'])
    if (typeof doc[k] !== 'string')
      out.push(
        finding(
          'config-required',
          loc,
          doc[k] === undefined ? `\`${k}\` is missing` : `\`${k}\` is ${show(doc[k])}, not a string`
        )
      )
  for (const k of ['author', 'variant', 'os.version'])
    if (doc[k] !== undefined && typeof doc[k] !== 'string')
      out.push(finding('config-field-type', loc, `\`${k}\` is ${show(doc[k])}, not a string`))
  if (doc['os.features'] !== undefined && !strArray(doc['os.features']))
    out.push(
      finding(
        'config-field-type',
        loc,
        `\`os.features\` is ${show(doc['os.features'])}, not an array of strings`
      )
    )
  if (doc.created !== undefined && !isRFC3339(doc.created))
    out.push(
      finding(
        'config-created',
        loc,
        `\`created\` is ${show(doc.created)}, not an RFC 3339 date-time`
      )
    )
  // The v1.1.1 prose allows a null `config` even though the schema types it as an object.
  const c = doc.config
  if (c !== undefined && c !== null) {
    if (!isObject(c))
      out.push(finding('config-field-type', loc, `\`config\` is ${show(c)}, not an object`))
    else {
      for (const [k, [check, what]] of Object.entries(CONTAINER_FIELDS))
        if (c[k] !== undefined && !check(c[k]))
          out.push(
            finding('config-field-type', loc, `\`config.${k}\` is ${show(c[k])}, not ${what}`)
          )
      if (Array.isArray(c.Env))
        c.Env.forEach((e, i) => {
          if (typeof e === 'string' && !/^[^=]+=/.test(e))
            out.push(finding('config-env', loc, `\`config.Env[${i}]\` "${e}" is not KEY=VALUE`))
        })
      if (c.Labels !== undefined && c.Labels !== null)
        checkAnnotations(c.Labels, at(loc, 'config.Labels'), out, '`config.Labels`')
    }
  }
  const r = doc.rootfs
  if (r === undefined) out.push(finding('config-required', loc, '`rootfs` is missing'))
  else if (!isObject(r))
    out.push(finding('config-required', loc, `\`rootfs\` is ${show(r)}, not an object`))
  else {
    if (r.type !== 'layers')
      out.push(
        finding(
          'config-rootfs-type',
          loc,
          r.type === undefined
            ? '`rootfs.type` is missing'
            : `\`rootfs.type\` is ${show(r.type)}, not "layers"`
        )
      )
    if (!Array.isArray(r.diff_ids))
      out.push(
        finding(
          'config-diff-ids',
          loc,
          r.diff_ids === undefined
            ? '`rootfs.diff_ids` is missing'
            : `\`rootfs.diff_ids\` is ${show(r.diff_ids)}, not an array`
        )
      )
    else
      r.diff_ids.forEach((id, i) => {
        const p = digestFinding(id)
        if (p) out.push(finding('config-diff-ids', loc, `\`rootfs.diff_ids[${i}]\` ${p.why}`))
      })
  }
  const h = doc.history
  if (h !== undefined) {
    if (!Array.isArray(h))
      out.push(finding('config-field-type', loc, `\`history\` is ${show(h)}, not an array`))
    else
      h.forEach((e, i) => {
        if (!isObject(e)) {
          out.push(
            finding('config-field-type', loc, `\`history[${i}]\` is ${show(e)}, not an object`)
          )
          return
        }
        for (const k of ['author', 'created_by', 'comment'])
          if (e[k] !== undefined && typeof e[k] !== 'string')
            out.push(
              finding(
                'config-field-type',
                loc,
                `\`history[${i}].${k}\` is ${show(e[k])}, not a string`
              )
            )
        if (e.empty_layer !== undefined && typeof e.empty_layer !== 'boolean')
          out.push(
            finding(
              'config-field-type',
              loc,
              `\`history[${i}].empty_layer\` is ${show(e.empty_layer)}, not a boolean`
            )
          )
        if (e.created !== undefined && !isRFC3339(e.created))
          out.push(
            finding(
              'config-created',
              loc,
              `\`history[${i}].created\` is ${show(e.created)}, not an RFC 3339 date-time`
            )
          )
      })
  }
}
