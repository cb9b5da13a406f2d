import * as fs from 'node:fs'
import * as fsp from 'node:fs/promises'

/**
 * Temporary files and directories of the current run (staging layout, extracted archives, an
 * archive being written). Removed on the normal paths by their owners; on SIGINT/SIGTERM (a
 * cancelled workflow) by removeAllTemps(), so a killed run leaves nothing behind.
 */
const temps = new Set<string>()

export function trackTemp(p: string): void {
  temps.add(p)
}

export function untrackTemp(p: string): void {
  temps.delete(p)
}

/** Removes a temporary path on the normal path, and stops tracking it. */
export async function removeTemp(p: string): Promise<void> {
  await fsp.rm(p, { recursive: true, force: true })
  temps.delete(p)
}

export function removeAllTemps(): void {
  for (const p of temps) {
    try {
      fs.rmSync(p, { recursive: true, force: true })
    } catch {
      // Best effort while the process is going down.
    }
  }
  temps.clear()
}
