/**
 * One image of an OCI image layout, selected by an entry of its index.json: a source. Its blobs
 * are read through the layout (transports/layout.ts).
 */
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import type { Readable } from 'node:stream'
import { LadingError, messageOf } from '../util/errors.js'
import { listed } from '../util/listing.js'
import { isDigest } from '../oci/digest.js'
import { parseJSONValue } from '../oci/json.js'
import { MAX_DOCUMENT_BYTES } from '../oci/limits.js'
import { Annotation, type Descriptor } from '../oci/types.js'
import type { ImageSource } from '../oci/blobs.js'
import type { BlobScan } from '../oci/scan.js'
import { Layout } from './layout.js'

export class LayoutImage implements ImageSource {
  readonly layout: Layout

  constructor(
    readonly name: string,
    readonly dir: string,
    readonly root: Descriptor,
    private readonly onClose?: () => Promise<void>,
    readonly scanned?: ReadonlyMap<string, BlobScan>,
    readonly warnings: readonly string[] = [],
    readonly impliedManifest?: { descriptor: Descriptor; bytes: Buffer }
  ) {
    this.layout = new Layout(dir, { name })
  }

  get layoutDir(): string {
    return this.dir
  }

  fileOf(digest: string): string {
    return this.layout.fileOf(digest)
  }

  open(desc: Descriptor): Promise<Readable> {
    return this.layout.open(desc)
  }

  read(desc: Descriptor): Promise<Buffer> {
    return this.layout.read(desc)
  }

  has(desc: Descriptor): Promise<boolean> {
    return this.layout.has(desc)
  }

  async close(): Promise<void> {
    await this.onClose?.()
  }
}

function refNameOf(d: Descriptor): string | undefined {
  return d.annotations?.[Annotation.RefName]
}

/** How the entries of an index.json can be named, for error messages. */
export function describeEntries(manifests: Descriptor[]): string {
  return listed(
    manifests.map(d => {
      const ref = refNameOf(d)
      return ref === undefined ? d.digest : `${JSON.stringify(ref)} (${d.digest})`
    })
  )
}

async function readJSONFile(file: string, what: string, from: string): Promise<unknown> {
  let bytes: Buffer
  try {
    bytes = await fs.readFile(file)
  } catch (err) {
    throw new LadingError(`from "${from}": cannot read ${what}: ${messageOf(err)}`)
  }
  return parseJSONValue(bytes, `from "${from}": ${what}`)
}

export interface OpenLayoutOptions {
  /** Runs on close(), e.g. to remove the directory an archive was extracted into. */
  onClose?: () => Promise<void>
  /** What to call the layout in messages when it is not what the user named (an archive). */
  where?: string
  /** How the user selects one image, e.g. `oci-archive:x.tar:REF`. */
  refHint?: string
  /** Blobs read and scanned while the layout was made (a docker-archive's layers). */
  scanned?: ReadonlyMap<string, BlobScan>
  /** What the run should be told of the source (entries of an archive that were not kept). */
  warnings?: readonly string[]
  /** The manifest the source implies when it stores none (a docker save tarball's). */
  impliedManifest?: { descriptor: Descriptor; bytes: Buffer }
}

/**
 * Opens the image `ref` names in the OCI image layout at `dir`. `ref` is an
 * `org.opencontainers.image.ref.name` annotation or the digest of an index.json entry; without it
 * the layout must hold exactly one image. `userSpec` is how the user wrote the source, for messages.
 */
export async function openLayout(
  dir: string,
  ref?: string,
  userSpec?: string,
  opts: OpenLayoutOptions = {}
): Promise<LayoutImage> {
  const from = userSpec ?? (ref ? `oci:${dir}:${ref}` : `oci:${dir}`)
  const where = opts.where ?? dir
  const refHint = opts.refHint ?? `oci:${dir}:REF`
  let st
  try {
    st = await fs.stat(dir)
  } catch {
    throw new LadingError(`from "${from}": the directory ${dir} does not exist`)
  }
  if (!st.isDirectory())
    throw new LadingError(
      `from "${from}": ${dir} is a file, not an OCI image layout directory` +
        (/\.tar(\.gz)?$/.test(dir) ? '; for a tarball use oci-archive: or docker-archive:' : '')
    )

  const layoutFile = await readJSONFile(
    path.join(dir, 'oci-layout'),
    'the oci-layout file (is this an OCI image layout?)',
    from
  )
  const version = (layoutFile as { imageLayoutVersion?: unknown } | null)?.imageLayoutVersion
  if (typeof version !== 'string' || !version.startsWith('1.'))
    throw new LadingError(
      `from "${from}": oci-layout has imageLayoutVersion ${JSON.stringify(version)}; ` +
        'Lading reads version 1.x layouts'
    )

  const index = (await readJSONFile(path.join(dir, 'index.json'), 'index.json', from)) as {
    manifests?: unknown
  } | null
  if (!index || !Array.isArray(index.manifests))
    throw new LadingError(`from "${from}": index.json has no "manifests" array`)
  const manifests = index.manifests as Descriptor[]
  for (const [i, d] of manifests.entries()) {
    if (
      !d ||
      typeof d.mediaType !== 'string' ||
      !isDigest(d.digest) ||
      !Number.isSafeInteger(d.size) ||
      d.size < 0
    )
      throw new LadingError(
        `from "${from}": index.json manifests[${i}] is not a valid descriptor ` +
          '(needs mediaType, a sha256/sha512 digest and a size)'
      )
  }
  if (manifests.length === 0) throw new LadingError(`from "${from}": index.json lists no images`)

  let root: Descriptor
  if (ref === undefined) {
    // Artifacts attached to an image (referrers) are listed beside it: they are not the choice.
    const images = manifests.length > 1 ? await withoutReferrers(dir, manifests) : manifests
    if (images.length !== 1)
      throw new LadingError(
        `from "${from}": the layout holds ${manifests.length} images: ${describeEntries(manifests)}; ` +
          `choose one with ${refHint} (a ref name or a digest)`
      )
    root = images[0]
  } else {
    const byName = manifests.filter(d => refNameOf(d) === ref)
    const matches = byName.length ? byName : manifests.filter(d => d.digest === ref)
    const distinct = new Set(matches.map(d => d.digest))
    if (matches.length === 0)
      throw new LadingError(
        `from "${from}": no image named "${ref}" in ${where}; it holds ${describeEntries(manifests)}`
      )
    if (distinct.size > 1)
      throw new LadingError(
        `from "${from}": "${ref}" names ${distinct.size} different images in ${where}: ` +
          `${describeEntries(matches)}; choose one by digest`
      )
    root = matches[0]
  }
  return new LayoutImage(
    from,
    dir,
    root,
    opts.onClose,
    opts.scanned,
    opts.warnings,
    opts.impliedManifest
  )
}

/** The entries that do not name another entry as their `subject`. */
async function withoutReferrers(dir: string, manifests: Descriptor[]): Promise<Descriptor[]> {
  const listed = new Set(manifests.map(d => d.digest))
  const layout = new Layout(dir)
  const out: Descriptor[] = []
  for (const d of manifests) {
    let subject: unknown
    if (d.size <= MAX_DOCUMENT_BYTES && (await layout.has(d))) {
      try {
        const doc = parseJSONValue(await layout.read(d), d.digest) as {
          subject?: { digest?: unknown }
        }
        subject = doc?.subject?.digest
      } catch {
        // Unreadable here: opening it later says why.
      }
    }
    if (typeof subject !== 'string' || !listed.has(subject)) out.push(d)
  }
  return out
}
