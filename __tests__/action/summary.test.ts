import { describe, it, expect } from '@jest/globals'
import { summaryMarkdown } from '../../src/action/summary.js'
import { makeReport } from '../../src/validate/index.js'
import type { RunResult } from '../../src/app/result.js'

const D = 'sha256:' + 'a'.repeat(64)
const A = 'sha256:' + 'b'.repeat(64)

describe('summaryMarkdown', () => {
  it('names the attached artifacts and each attestation dropped', () => {
    const report = makeReport([])
    const r: RunResult = {
      digest: D,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      size: 100,
      platforms: [],
      images: [],
      imageRefs: [],
      imageName: '',
      report,
      notDownloaded: [],
      attached: [A],
      dropped: ['dropped attestation x of oci:a|b: it describes y, which was rebuilt as z']
    }
    const md = summaryMarkdown(r, report)
    expect(md).toContain(`- **Attached:** \`${A}\``)
    expect(md).toContain(
      '- **Attestation dropped:** dropped attestation x of oci:a\\|b: it describes y'
    )
  })
})
