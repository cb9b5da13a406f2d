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
import { throttledProgress, type ProgressOptions, type StartProgress } from '../util/progress.js'

export interface Logger {
  info(msg: string): void
  warning(msg: string): void
  /** Opens a collapsible group of lines (the action's log groups); a header line otherwise. */
  startGroup?(name: string): void
  endGroup?(): void
}

/** How long one phase of the run took. */
export interface PhaseTiming {
  name: string
  ms: number
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
  /** Throttled progress of long layer builds and uploads, told to the log. */
  progress: StartProgress
  /** Milliseconds on a monotonic clock. */
  now: () => number
  /** The phases run so far, in order, with their durations (for the log and the summary). */
  timings: PhaseTiming[]
}

/**
 * `verdicts`: where the job's steps keep their scans (the runner's temp dir unless said);
 * `clock`: the progress reports' clock and interval (tests make them short).
 */
export function newRunContext(
  log: Logger,
  secrets = new Secrets(),
  opts: { verdicts?: VerdictStore; clock?: ProgressOptions } = {}
): RunContext {
  const verdicts = 'verdicts' in opts ? opts.verdicts : new FileVerdicts(defaultVerdictsDir())
  const clock = opts.clock ?? {}
  const now = clock.now ?? (() => performance.now())
  const relief = new MemoryRelief()
  return {
    log,
    secrets,
    temps: new Temps(),
    relief,
    scans: new ScanCache(verdicts, relief),
    mounts: new MountLocations(),
    progress: throttledProgress(m => log.info(m), { ...clock, now }),
    now,
    timings: []
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
