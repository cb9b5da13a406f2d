/** Opens the image a `from` line names, whichever transport holds it. */
import type { SourceSpec } from '../transports/spec.js'
import type { ImageSource } from '../oci/blobs.js'
import { parseReference } from '../oci/reference.js'
import type { Temps } from '../util/temps.js'
import { openLayout } from '../transports/layout-image.js'
import { openOciArchive } from '../transports/oci-archive.js'
import { openDockerArchive } from '../transports/docker-archive.js'
import { scanBlob } from '../validate/layer/scan.js'
import { RegistrySource } from '../registry/source.js'
import type { ClientOptions } from '../registry/client.js'

export async function openSource(
  spec: SourceSpec,
  line: string,
  auth: ClientOptions,
  temps: Temps
): Promise<ImageSource> {
  switch (spec.kind) {
    case 'oci':
      return openLayout(spec.path, spec.ref, line)
    case 'oci-archive':
      return openOciArchive(spec.path, spec.ref, line, temps)
    case 'docker-archive':
      // Its layers are scanned as they are converted; the validator's scan gives their diff_ids.
      return openDockerArchive(spec.path, scanBlob, line, spec.ref, temps)
    case 'registry':
      return RegistrySource.open(parseReference(spec.reference, { defaultTag: 'latest' }), auth)
    case 'scratch':
      throw new Error('internal: scratch has no source to open')
  }
}
