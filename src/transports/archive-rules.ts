/**
 * What each archive format keeps of an archive (see tar-extract.ts): an oci-archive its layout's
 * own entries, as far as its index.json and documents reach; a `docker save` tarball its
 * manifest.json and the configs and layer files that lists, and its OCI view when it has one.
 */
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { isDigest } from '../oci/digest.js'
import { LadingError } from '../util/errors.js'
import { MAX_DOCUMENT_BYTES } from '../oci/limits.js'
import { isIndexMediaType, isManifestMediaType } from '../oci/mediatypes.js'
import { descriptors, walkGraph } from '../oci/graph.js'
import { parseJSON } from '../oci/json.js'
import type { Descriptor } from '../oci/types.js'
import type { ArchiveRules, ExtractedView } from './tar-extract.js'
import { blobAlgorithm } from './entry-names.js'

/** The two files that make a directory an OCI image layout. */
const LAYOUT_FILES = ['oci-layout', 'index.json']

/** Entries every `docker save` writes that are no part of the image. */
const DOCKER_METADATA = /^(repositories|[^/]+\/(json|VERSION))$/

/**
 * A document's value, or undefined when it is absent, too big, too deep or not JSON (validation
 * says so).
 */
async function readArchiveDocument(view: ExtractedView, name: string): Promise<unknown> {
  const rec = view.get(name)
  if (!rec || rec.size > MAX_DOCUMENT_BYTES) return undefined
  return parseJSON(await fs.readFile(rec.file)).value
}

/** Descriptors Lading can name a blob file by: a digest it can read and a size. */
function validDescriptors(list: unknown[]): Descriptor[] {
  return list.filter(
    (d): d is Descriptor =>
      typeof d === 'object' &&
      d !== null &&
      isDigest((d as Descriptor).digest) &&
      Number.isSafeInteger((d as Descriptor).size) &&
      (d as Descriptor).size >= 0
  )
}

function blobName(d: Descriptor): string {
  const [algorithm, encoded] = d.digest.split(':', 2)
  return `blobs/${algorithm}/${encoded}`
}

/** Where an archive is, for messages. */
interface Where {
  from: string
  archive: string
}

function tooBig(at: Where, d: Descriptor, size: number): LadingError {
  return new LadingError(
    `from "${at.from}": the ${isIndexMediaType(d.mediaType) ? 'index' : 'manifest'} ${d.digest} ` +
      `in ${at.archive} has ${size} bytes, more than the ${MAX_DOCUMENT_BYTES} bytes ` +
      '(MAX_DOCUMENT_BYTES) Lading reads of a document; it cannot be checked'
  )
}

/**
 * What a document references: an index its entries, a manifest its config, layers and subject.
 * A document too big to read is an error: what it references could not be checked.
 */
async function referenced(view: ExtractedView, d: Descriptor, at: Where): Promise<Descriptor[]> {
  if (!isIndexMediaType(d.mediaType) && !isManifestMediaType(d.mediaType)) return []
  if (d.size > MAX_DOCUMENT_BYTES) throw tooBig(at, d, d.size)
  const size = view.get(blobName(d))?.size ?? 0
  if (size > MAX_DOCUMENT_BYTES) throw tooBig(at, d, size)
  const doc = (await readArchiveDocument(view, blobName(d))) as Record<string, unknown> | undefined
  if (typeof doc !== 'object' || doc === null) return []
  const list: unknown[] = []
  if (Array.isArray(doc.manifests)) list.push(...(doc.manifests as unknown[]))
  if (Array.isArray(doc.layers)) list.push(...(doc.layers as unknown[]))
  list.push(doc.config, doc.subject)
  return validDescriptors(list)
}

/**
 * The entries an OCI layout's graph needs, by name, with each blob's declared size: the graph is
 * walked from index.json as far as the documents extracted so far reach.
 */
async function layoutWanted(
  view: ExtractedView,
  at: Where
): Promise<Map<string, number | undefined>> {
  const wanted = new Map<string, number | undefined>(LAYOUT_FILES.map(n => [n, undefined]))
  const index = (await readArchiveDocument(view, 'index.json')) as
    { manifests?: unknown } | undefined
  if (!Array.isArray(index?.manifests)) return wanted
  const seen = new Set<string>()
  for (const root of validDescriptors(index.manifests)) {
    await walkGraph(
      root,
      descriptors({
        children: d => {
          wanted.set(blobName(d), d.size)
          return referenced(view, d, at)
        }
      }),
      { seen }
    )
  }
  return wanted
}

/** An oci-archive: `oci-layout`, `index.json` and `blobs/ALG/HEX`, nothing else. */
export function ociArchiveRules(from: string, archive: string): ArchiveRules {
  return {
    accepts: name => LAYOUT_FILES.includes(name) || blobAlgorithm(name) !== undefined,
    expected: () => false,
    hints: ['manifest.json'],
    isDocument: name => LAYOUT_FILES.includes(name),
    wanted: view => layoutWanted(view, { from, archive })
  }
}

/** How manifest.json names a member: relative to the archive root, perhaps with `./`. */
export function memberName(name: string): string {
  return path.posix.normalize(name.replace(/^\.\//, ''))
}

/**
 * A `docker save` tarball: any file may be one manifest.json lists, so the first pass takes any
 * (but docker's own metadata) while its budget lasts, and keeps only what manifest.json lists,
 * and what the OCI view of a Docker 25+ save needs.
 */
export function dockerArchiveRules(from: string, archive: string): ArchiveRules {
  return {
    accepts: name => !DOCKER_METADATA.test(name),
    expected: name => DOCKER_METADATA.test(name),
    hints: ['oci-layout'],
    isDocument: name => name === 'manifest.json' || LAYOUT_FILES.includes(name),
    wanted: async view => {
      const wanted = view.get('oci-layout')
        ? await layoutWanted(view, { from, archive })
        : new Map<string, number | undefined>()
      wanted.set('manifest.json', wanted.get('manifest.json'))
      const items = await readArchiveDocument(view, 'manifest.json')
      if (!Array.isArray(items)) return wanted
      for (const item of items as { Config?: unknown; Layers?: unknown }[]) {
        const members = [item?.Config, ...(Array.isArray(item?.Layers) ? item.Layers : [])]
        for (const m of members)
          if (typeof m === 'string' && !wanted.has(memberName(m)))
            wanted.set(memberName(m), undefined)
      }
      return wanted
    }
  }
}
