/** config.md: image configs. */
import { isObject } from '../../oci/json.js'
import { isRFC3339 } from '../../oci/time.js'
import { finding, type Finding } from '../rules.js'
import { checkAnnotations } from './annotations.js'
import { at, digestFinding, show } from './fields.js'

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

export function checkConfig(doc: unknown, loc: string, out: Finding[]): void {
  if (!isObject(doc)) {
    out.push(finding('json-not-object', loc, `the config is ${show(doc)}, not an object`))
    return
  }
  checkPlatformFields(doc, loc, out)
  if (doc.created !== undefined && !isRFC3339(doc.created))
    out.push(
      finding(
        'config-created',
        loc,
        `\`created\` is ${show(doc.created)}, not an RFC 3339 date-time`
      )
    )
  // The v1.1.1 prose allows a null `config` even though the schema types it as an object.
  if (doc.config !== undefined && doc.config !== null) checkContainerConfig(doc.config, loc, out)
  checkRootfs(doc.rootfs, loc, out)
  if (doc.history !== undefined) checkHistory(doc.history, loc, out)
}

/** `architecture` and `os`, required; `author`, `variant`, `os.version`, `os.features`. */
function checkPlatformFields(doc: Record<string, unknown>, loc: string, out: Finding[]): void {
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
}

/** The `config` member: what a runtime uses to run the image. */
function checkContainerConfig(c: unknown, loc: string, out: Finding[]): void {
  if (!isObject(c)) {
    out.push(finding('config-field-type', loc, `\`config\` is ${show(c)}, not an object`))
    return
  }
  for (const [k, [check, what]] of Object.entries(CONTAINER_FIELDS))
    if (c[k] !== undefined && !check(c[k]))
      out.push(finding('config-field-type', loc, `\`config.${k}\` is ${show(c[k])}, not ${what}`))
  if (Array.isArray(c.Env))
    c.Env.forEach((e, i) => {
      if (typeof e === 'string' && !/^[^=]+=/.test(e))
        out.push(finding('config-env', loc, `\`config.Env[${i}]\` "${e}" is not KEY=VALUE`))
    })
  if (c.Labels !== undefined && c.Labels !== null)
    checkAnnotations(c.Labels, at(loc, 'config.Labels'), out, '`config.Labels`')
}

function checkRootfs(r: unknown, loc: string, out: Finding[]): void {
  if (r === undefined) {
    out.push(finding('config-required', loc, '`rootfs` is missing'))
    return
  }
  if (!isObject(r)) {
    out.push(finding('config-required', loc, `\`rootfs\` is ${show(r)}, not an object`))
    return
  }
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

function checkHistory(h: unknown, loc: string, out: Finding[]): void {
  if (!Array.isArray(h)) {
    out.push(finding('config-field-type', loc, `\`history\` is ${show(h)}, not an array`))
    return
  }
  h.forEach((e, i) => checkHistoryEntry(e, `history[${i}]`, loc, out))
}

function checkHistoryEntry(e: unknown, name: string, loc: string, out: Finding[]): void {
  if (!isObject(e)) {
    out.push(finding('config-field-type', loc, `\`${name}\` is ${show(e)}, not an object`))
    return
  }
  for (const k of ['author', 'created_by', 'comment'])
    if (e[k] !== undefined && typeof e[k] !== 'string')
      out.push(finding('config-field-type', loc, `\`${name}.${k}\` is ${show(e[k])}, not a string`))
  if (e.empty_layer !== undefined && typeof e.empty_layer !== 'boolean')
    out.push(
      finding(
        'config-field-type',
        loc,
        `\`${name}.empty_layer\` is ${show(e.empty_layer)}, not a boolean`
      )
    )
  if (e.created !== undefined && !isRFC3339(e.created))
    out.push(
      finding(
        'config-created',
        loc,
        `\`${name}.created\` is ${show(e.created)}, not an RFC 3339 date-time`
      )
    )
}
