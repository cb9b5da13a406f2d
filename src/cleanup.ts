import * as fs from 'node:fs'

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
