import type { Plan } from '../plan.js'
import type { SourceSpec } from './spec.js'
import type { ImageSource } from './types.js'
import { openLayout } from './layout.js'
import { openOciArchive } from './oci-archive.js'
import { openDockerArchive } from './docker-archive.js'
import { RegistrySource } from './registry.js'
import { parseReference } from '../oci/reference.js'

/** Opens the image a `from` line names. */
export async function openSource(
  spec: SourceSpec,
  line: string,
  auth: Plan['auth']
): Promise<ImageSource> {
  switch (spec.kind) {
    case 'oci':
      return openLayout(spec.path, spec.ref, line)
    case 'oci-archive':
      return openOciArchive(spec.path, spec.ref, line)
    case 'docker-archive':
      return openDockerArchive(spec.path, line, spec.ref)
    case 'registry':
      return RegistrySource.open(parseReference(spec.reference, { defaultTag: 'latest' }), auth)
    case 'scratch':
      throw new Error('internal: scratch has no source to open')
  }
}
