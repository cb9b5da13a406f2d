import * as fs from 'node:fs/promises'
import { LadingError } from '../util/errors.js'
import { openLayout, type LayoutImage } from './layout-image.js'
import { extractArchive, makeTempDir } from './tar-extract.js'
import { ociArchiveRules } from './archive-rules.js'
import { Temps } from '../util/temps.js'

/** Fails early, with a hint, when `archive` is not a file Lading could extract. */
export async function checkArchiveFile(archive: string, from: string): Promise<void> {
  let st
  try {
    st = await fs.stat(archive)
  } catch {
    throw new LadingError(`from "${from}": the file ${archive} does not exist`)
  }
  if (st.isDirectory())
    throw new LadingError(
      `from "${from}": ${archive} is a directory; for an OCI image layout directory use oci:${archive}`
    )
}

/**
 * Opens an OCI image layout stored as a tar (plain, gzip or zstd), as buildkit's `type=oci` output,
 * `skopeo copy ... oci-archive:` and `docker save` of Docker 25+ write it. The layout's own
 * entries are extracted, blob by blob with each digest checked and no more of each than the
 * image declares, into a temporary directory that close() removes; it is then read as a layout.
 * Anything else in the archive is not written: the source's warnings say how much there was.
 */
export async function openOciArchive(
  archive: string,
  ref?: string,
  userSpec?: string,
  temps: Temps = new Temps()
): Promise<LayoutImage> {
  const from = userSpec ?? (ref ? `oci-archive:${archive}:${ref}` : `oci-archive:${archive}`)
  await checkArchiveFile(archive, from)
  const dir = await makeTempDir(temps)
  const cleanup = () => temps.remove(dir)
  try {
    const { files, seen, warnings } = await extractArchive(
      archive,
      dir,
      from,
      ociArchiveRules(from, archive)
    )
    if (!files.has('oci-layout') && !files.has('index.json')) {
      if (seen('manifest.json'))
        throw new LadingError(
          `from "${from}": ${archive} is a docker save tarball, not an OCI layout archive; ` +
            `use docker-archive:${archive}`
        )
      throw new LadingError(
        `from "${from}": ${archive} is not an OCI layout archive nor a docker save tarball ` +
          '(it has neither oci-layout and index.json nor manifest.json)'
      )
    }
    return await openLayout(dir, ref, from, {
      onClose: cleanup,
      where: archive,
      refHint: `oci-archive:${archive}:REF`,
      warnings
    })
  } catch (err) {
    await cleanup()
    throw err
  }
}
