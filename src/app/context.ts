/**
 * What one run carries besides its plan: where it logs, the secrets it met, its temporary files,
 * its memory relief and what it knows of each blob it read. Made by a front end for each run and
 * passed down, so two runs in one process share nothing.
 */
import { Secrets } from '../util/secrets.js'
import { Temps } from '../util/temps.js'
import { MemoryRelief } from '../util/memory.js'
import { ScanCache, type VerdictStore } from '../oci/scan.js'
import { FileVerdicts, defaultVerdictsDir } from '../transports/verdicts.js'
import { MountLocations } from '../registry/index.js'

export interface Logger {
  info(msg: string): void
  warning(msg: string): void
}

export interface RunContext {
  log: Logger
  secrets: Secrets
  temps: Temps
  relief: MemoryRelief
  /**
   * Every blob this run read and checked, by scan key: none is read twice to be checked; with the
   * verdicts of the job's earlier steps (scans.verdicts), a layout's unchanged files neither.
   */
  scans: ScanCache
  /** Where the run has seen each blob in a registry, so a push can mount it from there. */
  mounts: MountLocations
}

/** `verdicts`: where the job's steps keep their scans (the runner's temp dir unless said). */
export function newRunContext(
  log: Logger,
  secrets = new Secrets(),
  verdicts: VerdictStore | undefined = new FileVerdicts(defaultVerdictsDir())
): RunContext {
  return {
    log,
    secrets,
    temps: new Temps(),
    relief: new MemoryRelief(),
    scans: new ScanCache(verdicts),
    mounts: new MountLocations()
  }
}

/**
 * A cancelled workflow (or Ctrl-C) stops the run with a signal: its temporary files go with it.
 * Returns the function that stops listening, for when the run is over.
 */
export function cleanUpOnSignals(ctx: RunContext): () => void {
  const stop = (sig: NodeJS.Signals) => {
    ctx.temps.removeAll()
    process.exit(sig === 'SIGINT' ? 130 : 143)
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  return () => {
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
  }
}
