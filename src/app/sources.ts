/** Opens the image a `from` line names, whichever transport holds it. */
import * as path from 'node:path'
import type { SourceSpec } from '../transports/spec.js'
import type { ImageSource } from '../oci/blobs.js'
import { parseReference } from '../oci/reference.js'
import type { Temps } from '../util/temps.js'
import type { BlobScanner } from '../oci/scan.js'
import { openLayout } from '../transports/layout-image.js'
import { openOciArchive } from '../transports/oci-archive.js'
import { openDockerArchive } from '../transports/docker-archive.js'
import { scanBlob } from '../validate/layer/scan.js'
import { RegistrySource } from '../registry/source.js'
import type { ClientOptions } from '../registry/client.js'
import { dockerSave } from './docker.js'

/** `scanner` reads the layers a docker-archive converts (the validator's scan unless the caller reads no layer). */
export async function openSource(
  spec: SourceSpec,
  line: string,
  auth: ClientOptions,
  temps: Temps,
  scanner: BlobScanner = scanBlob
): Promise<ImageSource> {
  switch (spec.kind) {
    case 'oci':
      return openLayout(spec.path, spec.ref, line)
    case 'oci-archive':
      return openOciArchive(spec.path, spec.ref, line, temps)
    case 'docker-archive':
      return openDockerArchive(spec.path, scanner, line, spec.ref, temps)
    case 'docker-daemon': {
      const file = await dockerSave(spec.image, line, temps)
      try {
        return await openDockerArchive(file, scanner, line, undefined, temps)
      } finally {
        // Unpacked into a layout by now: the tarball is not read again.
        await temps.remove(path.dirname(file))
      }
    }
    case 'registry':
      return RegistrySource.open(parseReference(spec.reference, { defaultTag: 'latest' }), auth)
    case 'scratch':
      throw new Error('internal: scratch has no source to open')
  }
}
