/**
 * The image out of the layout into a tar: the `archive` input (oci-archive or `docker save`
 * format), and `load: true`, which hands an archive to the local Docker.
 */
import * as fs from 'node:fs/promises'
import * as os from 'node:os'
import * as path from 'node:path'
import { LadingError, messageOf } from '../../util/errors.js'
import { formatReference } from '../../oci/reference.js'
import { writeOciArchive } from '../../transports/archive-writer.js'
import { repoTagOf, writeDockerArchive } from '../../transports/docker-archive-writer.js'
import type { ArchiveFormat, Plan } from '../plan.js'
import type { RunContext } from '../context.js'
import { dockerLoad } from '../docker.js'

/** Writes the image of `layoutDir` to `file` in `format`, named by the plan's tags. */
export async function writeArchive(
  plan: Plan,
  layoutDir: string,
  file: string,
  format: ArchiveFormat,
  ctx: Pick<RunContext, 'temps'>
): Promise<void> {
  try {
    if (format === 'docker') {
      const repoTags = plan.tags.map(repoTagOf).filter((t): t is string => t !== undefined)
      await writeDockerArchive(layoutDir, file, { repoTags, temps: ctx.temps })
    } else {
      // Docker 25+ names what it loads by this one name: the first tag, as buildx does.
      const first = plan.tags.find(t => t.tag)
      const imageName = first ? formatReference(first) : undefined
      await writeOciArchive(layoutDir, file, ctx.temps, { imageName })
    }
  } catch (err) {
    throw err instanceof LadingError
      ? err
      : new LadingError(`archive: could not write ${file}: ${messageOf(err)}`)
  }
}

/**
 * `docker load` of the committed image: the archive when one was written, else a temporary one,
 * in docker format for one platform (any Docker, podman) and oci for several (Docker 25+).
 */
export async function loadIntoDocker(
  plan: Plan,
  platformCount: number,
  ctx: Pick<RunContext, 'temps' | 'log'>
): Promise<void> {
  let file = plan.archive
  let dir: string | undefined
  if (!file) {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lading-load-'))
    ctx.temps.track(dir)
    file = path.join(dir, 'image.tar')
    await writeArchive(plan, plan.output, file, platformCount === 1 ? 'docker' : 'oci', ctx)
  }
  try {
    if (plan.tags.length === 0)
      ctx.log.info('load: no tags, so Docker loads the image without a name (see its image ID)')
    for (const line of await dockerLoad(file)) ctx.log.info(`docker load: ${line}`)
  } finally {
    if (dir) await ctx.temps.remove(dir)
  }
}
