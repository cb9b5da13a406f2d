/** image-index.md's `platform` of an index entry. */
import { isObject } from '../../oci/json.js'
import { finding, type Finding } from '../rules.js'
import { show } from './fields.js'

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
