/** image-layout.md's `oci-layout` file. */
import { isObject } from '../../oci/json.js'
import { finding, type Finding } from '../rules.js'
import { show } from './fields.js'

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
