/**
 * Whether a base image's config can be rebuilt with new layers and edits. Validation catches a
 * config of the wrong shape, but a run at fail-on never goes on with one: what the edits touch
 * must then have the shape they expect. (That it is shallow enough to be copied and written again
 * is the JSON reader's MAX_JSON_DEPTH: a deeper config is never parsed.)
 */
import type { ConfigEdits } from '../../build/assemble.js'
import { isObject } from '../../oci/json.js'
import { LadingError } from '../../util/errors.js'

const isStringList = (v: unknown): boolean =>
  Array.isArray(v) && v.every(x => typeof x === 'string')

/**
 * Throws a LadingError naming the config, its source and the field when the config cannot take
 * the edits (and new layers); `what` names the config in messages.
 */
export function checkEditableConfig(config: unknown, edits: ConfigEdits, what: string): void {
  const cannot = (field: string, shape: string) =>
    new LadingError(
      `${what}: its \`${field}\` is not ${shape}, so it cannot take new layers or edits`
    )
  if (!isObject(config)) throw cannot('(top level)', 'an object')
  const optional = (v: unknown, ok: (v: unknown) => boolean) =>
    v === undefined || v === null || ok(v)
  const rootfs = config.rootfs
  if (!optional(rootfs, isObject)) throw cannot('rootfs', 'an object')
  if (isObject(rootfs) && !optional(rootfs.diff_ids, Array.isArray))
    throw cannot('rootfs.diff_ids', 'a list')
  if (!optional(config.history, Array.isArray)) throw cannot('history', 'a list')
  const c = config.config
  if (!optional(c, isObject)) throw cannot('config', 'an object')
  if (!isObject(c)) return
  if (edits.env.length && !optional(c.Env, isStringList))
    throw cannot('config.Env', 'a list of strings')
  if (Object.keys(edits.labels).length && !optional(c.Labels, isObject))
    throw cannot('config.Labels', 'an object')
  if (edits.exposedPorts.length && !optional(c.ExposedPorts, isObject))
    throw cannot('config.ExposedPorts', 'an object')
}
