import { createReadStream, createWriteStream } from 'node:fs'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { randomBytes } from 'node:crypto'
import { pipeline } from 'node:stream/promises'
import * as tar from 'tar-stream'
import { LadingError, messageOf } from '../util/errors.js'
import { Temps } from '../util/temps.js'
import { isObject, parseJSONValue } from '../oci/json.js'

/** One entry of an archive: a directory (name ends with '/'), a file on disk, or bytes. */
export interface ArchiveMember {
  name: string
  /** Absolute path of a file. */
  file?: string
  bytes?: Buffer
  size: number
}

/** Fixed metadata so that the same layout always gives the same archive bytes. */
const EPOCH = new Date(0)

/** Docker 25+ names an image it loads from an oci-archive by this annotation of index.json. */
export const CONTAINERD_IMAGE_NAME = 'io.containerd.image.name'

/** Directories and files under `rel` (a path inside the layout), sorted by name at each level. */
async function walk(root: string, rel: string, out: ArchiveMember[]): Promise<void> {
  const names = (await fs.readdir(path.join(root, rel))).sort()
  for (const n of names) {
    // Archive names use '/', whatever the separator of the runner's file system.
    const relChild = `${rel}/${n}`
    const abs = path.join(root, ...relChild.split('/'))
    const st = await fs.stat(abs)
    if (st.isDirectory()) {
      out.push({ name: `${relChild}/`, size: 0 })
      await walk(root, relChild, out)
    } else if (st.isFile()) {
      out.push({ name: relChild, file: abs, size: st.size })
    }
  }
}

/**
 * The layout's index.json with `io.containerd.image.name` on each entry, so Docker 25+ names the
 * image it loads; the layout itself is left as it is.
 */
async function namedIndex(layoutDir: string, imageName: string): Promise<Buffer> {
  const file = path.join(layoutDir, 'index.json')
  const index = parseJSONValue(await fs.readFile(file), file)
  if (!isObject(index) || !Array.isArray(index.manifests))
    throw new LadingError(`${file} is not an image index`)
  for (const entry of index.manifests as unknown[])
    if (isObject(entry))
      entry.annotations = {
        ...(isObject(entry.annotations) ? entry.annotations : {}),
        [CONTAINERD_IMAGE_NAME]: imageName
      }
  return Buffer.from(JSON.stringify(index))
}

/**
 * Writes the OCI image layout at `layoutDir` as an oci-archive tar at `archivePath`: `oci-layout`,
 * `index.json`, then the `blobs/` tree in name order, each with mtime 0, owner 0:0 and modes
 * 0644/0755, so equal layouts give byte-identical archives. Anything else in the layout directory
 * (Lading's own `.lading-tmp`) is left out. With `imageName` (a full reference), index.json's
 * entries carry it as `io.containerd.image.name`.
 */
export async function writeOciArchive(
  layoutDir: string,
  archivePath: string,
  temps: Temps = new Temps(),
  opts: { imageName?: string } = {}
): Promise<void> {
  const members: ArchiveMember[] = []
  try {
    const layoutFile = path.join(layoutDir, 'oci-layout')
    members.push({ name: 'oci-layout', file: layoutFile, size: (await fs.stat(layoutFile)).size })
    const indexFile = path.join(layoutDir, 'index.json')
    if (opts.imageName) {
      const bytes = await namedIndex(layoutDir, opts.imageName)
      members.push({ name: 'index.json', bytes, size: bytes.length })
    } else
      members.push({ name: 'index.json', file: indexFile, size: (await fs.stat(indexFile)).size })
    members.push({ name: 'blobs/', size: 0 })
    await walk(layoutDir, 'blobs', members)
  } catch (err) {
    throw new LadingError(
      `cannot archive ${layoutDir}: it is not a complete OCI image layout (${messageOf(err)})`
    )
  }
  await writeTar(members, archivePath, temps, 'the OCI archive')
}

/**
 * Writes `members` as a tar at `archivePath`, each with mtime 0, owner 0:0 and modes 0644/0755.
 * Files are streamed one by one, and members may be made as they are asked for (an async
 * iterable), so a large member need exist only while it is written. The archive appears under its
 * name only once complete (written to a temporary file, then renamed).
 */
export async function writeTar(
  members: Iterable<ArchiveMember> | AsyncIterable<ArchiveMember>,
  archivePath: string,
  temps: Temps,
  what: string
): Promise<void> {
  const tmp = path.join(
    path.dirname(archivePath),
    `.${path.basename(archivePath)}.${randomBytes(6).toString('hex')}.tmp`
  )
  temps.track(tmp)
  const pack = tar.pack()
  const written = pipeline(pack, createWriteStream(tmp)).then(
    () => undefined,
    (err: unknown) => err
  )
  try {
    for await (const m of members) {
      const isDir = m.name.endsWith('/')
      const header: Partial<tar.Header> & { name: string } = {
        name: m.name,
        size: isDir ? 0 : m.size,
        mode: isDir ? 0o755 : 0o644,
        mtime: EPOCH,
        uid: 0,
        gid: 0,
        uname: '',
        gname: '',
        type: isDir ? 'directory' : 'file'
      }
      await new Promise<void>((resolve, reject) => {
        // A directory entry has no body: tar-stream completes it on its own.
        if (m.bytes) pack.entry(header, m.bytes, err => (err ? reject(err) : resolve()))
        else {
          const sink = pack.entry(header, err => (err ? reject(err) : resolve()))
          if (m.file) pipeline(createReadStream(m.file), sink).catch(reject)
        }
      })
    }
    pack.finalize()
    const err = await written
    if (err) throw err
    await fs.rename(tmp, archivePath)
    temps.untrack(tmp)
  } catch (err) {
    pack.destroy()
    await written
    await temps.remove(tmp)
    if (err instanceof LadingError) throw err
    throw new LadingError(`writing ${what} ${archivePath}: ${messageOf(err)}`)
  }
}
