import * as fs from 'node:fs'
import * as fsp from 'node:fs/promises'

/**
 * The temporary files and directories of one run (staging layout, extracted archives, an archive
 * being written). Removed on the normal paths by their owners; when the run is stopped by a
 * signal (a cancelled workflow), the front end calls removeAll(), so a killed run leaves nothing.
 */
export class Temps {
  private readonly paths = new Set<string>()

  track(p: string): void {
    this.paths.add(p)
  }

  untrack(p: string): void {
    this.paths.delete(p)
  }

  /** Removes a temporary path on the normal path, and stops tracking it. */
  async remove(p: string): Promise<void> {
    await fsp.rm(p, { recursive: true, force: true })
    this.paths.delete(p)
  }

  /** Synchronous, for a process going down on a signal. */
  removeAll(): void {
    for (const p of this.paths) {
      try {
        fs.rmSync(p, { recursive: true, force: true })
      } catch {
        // Best effort while the process is going down.
      }
    }
    this.paths.clear()
  }
}
