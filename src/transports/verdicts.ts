/**
 * The verdicts of the Lading steps of one job, kept in the runner's temp dir: one small JSON file
 * per blob digest, each holding the scans of the files (of any layout) that held that blob, with
 * the identity each file had when it was read. A later step that finds the same file unchanged
 * takes the scan instead of decompressing and parsing the blob again. Whatever is wrong with the
 * store (missing, corrupt, foreign, too large, not writable) only costs a read: it is ignored.
 */
import * as fs from 'node:fs/promises'
import * as os from 'node:os'
import * as path from 'node:path'
import { randomBytes } from 'node:crypto'
import { parseDigest } from '../oci/digest.js'
import type { BlobScan, FileIdentity, VerdictStore } from '../oci/scan.js'
import { sameFile } from '../oci/scan.js'
import type { Finding } from '../oci/finding.js'

/** The directory under the runner's temp dir. */
export const VERDICTS_DIR = 'lading-verdicts'
/** A verdict file larger than this is neither written nor read (a scan with many findings). */
export const MAX_VERDICT_BYTES = 64 * 1024
/** Files (layouts) remembered per digest; the oldest go first. */
export const MAX_FILES_PER_DIGEST = 8
/** Marks the files this module writes; anything else in the directory is ignored. */
const FORMAT = 'lading-verdicts/1'

interface Entry {
  key: string
  file: FileIdentity
  scan: BlobScan
}

interface VerdictFile {
  format: typeof FORMAT
  digest: string
  entries: Entry[]
}

/** Where a run keeps verdicts: `RUNNER_TEMP` in a workflow, the system's temp dir elsewhere. */
export function defaultVerdictsDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.RUNNER_TEMP || os.tmpdir(), VERDICTS_DIR)
}

export class FileVerdicts implements VerdictStore {
  constructor(readonly dir: string) {}

  async identify(file: string): Promise<FileIdentity | undefined> {
    try {
      const st = await fs.stat(file, { bigint: true })
      if (!st.isFile()) return undefined
      return {
        dev: String(st.dev),
        ino: String(st.ino),
        size: String(st.size),
        mtimeNs: String(st.mtimeNs),
        ctimeNs: String(st.ctimeNs)
      }
    } catch {
      return undefined
    }
  }

  async lookup(key: string, digest: string, file: FileIdentity): Promise<BlobScan | undefined> {
    const kept = await this.load(digest)
    return kept?.entries.find(e => e.key === key && sameFile(e.file, file))?.scan
  }

  async record(key: string, digest: string, file: FileIdentity, scan: BlobScan): Promise<void> {
    const name = this.fileName(digest)
    if (!name) return
    const kept = (await this.load(digest))?.entries ?? []
    const others = kept.filter(e => !(e.key === key && sameFile(e.file, file)))
    const entries = [...others, { key, file, scan }].slice(-MAX_FILES_PER_DIGEST)
    const bytes = Buffer.from(JSON.stringify({ format: FORMAT, digest, entries }))
    if (bytes.length > MAX_VERDICT_BYTES) return
    const tmp = path.join(this.dir, `.${randomBytes(8).toString('hex')}.tmp`)
    try {
      await fs.mkdir(this.dir, { recursive: true })
      await fs.writeFile(tmp, bytes)
      // A rename: a reader sees the old file or the new one, never half of one.
      await fs.rename(tmp, name)
    } catch {
      await fs.rm(tmp, { force: true }).catch(() => undefined)
    }
  }

  private fileName(digest: string): string | undefined {
    try {
      const { algorithm, encoded } = parseDigest(digest)
      return path.join(this.dir, `${algorithm}-${encoded}.json`)
    } catch {
      return undefined
    }
  }

  private async load(digest: string): Promise<VerdictFile | undefined> {
    const name = this.fileName(digest)
    if (!name) return undefined
    try {
      const fh = await fs.open(name, 'r')
      try {
        if ((await fh.stat()).size > MAX_VERDICT_BYTES) return undefined
        const value: unknown = JSON.parse((await fh.readFile()).toString('utf8'))
        return isVerdictFile(value, digest) ? value : undefined
      } finally {
        await fh.close()
      }
    } catch {
      return undefined
    }
  }
}

function isVerdictFile(v: unknown, digest: string): v is VerdictFile {
  const f = v as Partial<VerdictFile> | null
  return (
    typeof f === 'object' &&
    f !== null &&
    f.format === FORMAT &&
    f.digest === digest &&
    Array.isArray(f.entries) &&
    f.entries.every(isEntry)
  )
}

function isEntry(v: unknown): v is Entry {
  const e = v as Partial<Entry> | null
  if (typeof e !== 'object' || e === null || typeof e.key !== 'string') return false
  const id = e.file as Partial<FileIdentity> | undefined
  const ids = [id?.dev, id?.ino, id?.size, id?.mtimeNs, id?.ctimeNs]
  const s = e.scan as Partial<BlobScan> | undefined
  return (
    ids.every(x => typeof x === 'string') &&
    typeof s === 'object' &&
    s !== null &&
    typeof s.size === 'number' &&
    typeof s.digest === 'string' &&
    (s.diffId === undefined || typeof s.diffId === 'string') &&
    Array.isArray(s.findings) &&
    s.findings.every(isFinding)
  )
}

function isFinding(v: unknown): boolean {
  const f = v as Partial<Finding> | null
  return (
    typeof f === 'object' &&
    f !== null &&
    [f.rule, f.message, f.location, f.spec].every(x => typeof x === 'string') &&
    (f.severity === 'error' || f.severity === 'warning' || f.severity === 'info')
  )
}
