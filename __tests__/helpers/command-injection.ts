/**
 * A layout whose index holds, beside its image, an artifact whose config media type carries a
 * newline and a workflow command: what a hostile source puts in the log's way.
 */
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { writeBlob } from './transports-fixtures.js'

export const INJECTED = '::error title=pwned::injected'

const EMPTY = { mediaType: 'application/vnd.oci.empty.v1+json', data: '{}' }

/** Rewrites the one-image layout at `dir`: index.json lists an index of the image and the artifact. */
export async function injectArtifact(dir: string): Promise<void> {
  const put = async (bytes: Buffer) => ({
    digest: await writeBlob(dir, bytes),
    size: bytes.length
  })
  const top = JSON.parse(await fs.readFile(path.join(dir, 'index.json'), 'utf8'))
  const image = top.manifests[0]
  const empty = { mediaType: EMPTY.mediaType, ...(await put(Buffer.from(EMPTY.data))) }
  const artifact = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: 'application/x.a',
    config: { ...empty, mediaType: `application/x.a\n${INJECTED}` },
    layers: [empty]
  }
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: image.mediaType,
        digest: image.digest,
        size: image.size,
        platform: { architecture: 'amd64', os: 'linux' }
      },
      { mediaType: artifact.mediaType, ...(await put(Buffer.from(JSON.stringify(artifact)))) }
    ]
  }
  const root = { mediaType: index.mediaType, ...(await put(Buffer.from(JSON.stringify(index)))) }
  await fs.writeFile(
    path.join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [root] })
  )
}

/** Whether the Actions runner would read a line of `text` as a workflow command. */
export function hasCommandLine(text: string): boolean {
  return text.split(/\r\n|\r|\n/).some(line => line.trimStart().startsWith('::'))
}
