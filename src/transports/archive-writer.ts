import { createReadStream, createWriteStream } from 'node:fs'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { randomBytes } from 'node:crypto'
import { pipeline } from 'node:stream/promises'
import * as tar from 'tar-stream'
import { LadingError, messageOf } from '../util/errors.js'
import { Temps } from '../util/temps.js'

interface Member {
  name: string
  /** Absolute path of a file; undefined for a directory. */
  file?: string
  size: number
}

/** Fixed metadata so that the same layout always gives the same archive bytes. */
const EPOCH = new Date(0)

/** Directories and files under `rel` (a path inside the layout), sorted by name at each level. */
async function walk(root: string, rel: string, out: Member[]): Promise<void> {
  const names = (await fs.readdir(path.join(root, rel))).sort()
  for (const n of names) {
    const relChild = `${rel}/${n}`
    const abs = path.join(root, relChild)
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
 * Writes the OCI image layout at `layoutDir` as an oci-archive tar at `archivePath`: `oci-layout`,
 * `index.json`, then the `blobs/` tree in name order, each with mtime 0, owner 0:0 and modes
 * 0644/0755, so equal layouts give byte-identical archives. Files are streamed one by one; the
 * archive appears under its name only once complete (written to a temporary file, then renamed).
 * Anything else in the layout directory (Lading's own `.lading-tmp`) is left out.
 */
export async function writeOciArchive(
  layoutDir: string,
  archivePath: string,
  temps: Temps = new Temps()
): Promise<void> {
  const members: Member[] = []
  try {
    for (const name of ['oci-layout', 'index.json']) {
      const file = path.join(layoutDir, name)
      const st = await fs.stat(file)
      members.push({ name, file, size: st.size })
    }
    members.push({ name: 'blobs/', size: 0 })
    await walk(layoutDir, 'blobs', members)
  } catch (err) {
    throw new LadingError(
      `cannot archive ${layoutDir}: it is not a complete OCI image layout (${messageOf(err)})`
    )
  }

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
    for (const m of members) {
      const header: Partial<tar.Header> & { name: string } = {
        name: m.name,
        size: m.size,
        mode: m.file ? 0o644 : 0o755,
        mtime: EPOCH,
        uid: 0,
        gid: 0,
        uname: '',
        gname: '',
        type: m.file ? 'file' : 'directory'
      }
      await new Promise<void>((resolve, reject) => {
        // A directory entry has no body: tar-stream completes it on its own.
        const sink = pack.entry(header, err => (err ? reject(err) : resolve()))
        if (m.file) pipeline(createReadStream(m.file), sink).catch(reject)
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
    throw new LadingError(`writing the OCI archive ${archivePath}: ${messageOf(err)}`)
  }
}
