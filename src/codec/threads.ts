import type { ResourceLimits } from 'node:worker_threads'

/**
 * The heap of each of Lading's worker threads (libdeflate's, the tree hasher's): each holds the
 * block in hand and little else, as the blocks pass between the threads whole and the wasm memory
 * lies outside the heap; small limits keep the idle space of several threads off the run's peak.
 */
export const WORKER_LIMITS: ResourceLimits = {
  maxOldGenerationSizeMb: 16,
  maxYoungGenerationSizeMb: 4
}
