/**
 * How many chunks of one batch are scheduled at once (its window), derived from the capacity of
 * the GPU workers serving its model rather than a constant, so a lone batch fills whatever fleet
 * it has. Pure arithmetic, shared by the orchestrator's activity and the unit tests.
 *
 * What a GPU worker holds is decided by its admission (src/roles/admission.ts): it leases the next
 * chunk while fewer requests wait for its backends than they run at once, so it holds up to its
 * depth running plus up to its depth waiting (HEADROOM = 2 depths), plus the chunk partly drained
 * and the one just leased ahead (MARGIN_PER_WORKER). A window of that size never is what limits a
 * lone batch (admission is), and leaves next to nothing of it waiting in the task queue: a later
 * batch of the same tenant (same fairness key, first-come among its tasks) waits behind no more of
 * it than today's.
 */

/** The live GPU workers serving a model at an endpoint that report their capacity, and the sum of it (their backends' found depths). */
export type FleetCapacity = { workers: number; depth: number };

/** Requests a worker holds per request of depth: its backends' depth running, up to as many waiting. */
export const HEADROOM = 2;

/** Chunks a worker holds beyond its requests' worth: the one partly drained and the one leased ahead. */
export const MARGIN_PER_WORKER = 2;

/**
 * The most chunks a fleet reading can ask for: a workflow run starts at most 500 chunks before it
 * continues as new (CHUNKS_PER_RUN in src/workflows/batch.ts), and Temporal refuses a workflow more
 * than 2,000 pending activities by default (`limit.numPendingActivities.error`).
 */
export const WINDOW_CEILING = 500;

/**
 * The window of a batch of chunks of `chunkSize` requests on `fleet`: what the fleet's workers hold
 * of it, at most WINDOW_CEILING, at least `floor` (CHUNKS_IN_FLIGHT_PER_BATCH, which also covers a
 * fleet whose capacity is unknown: workers from before capacities were reported, or whose backends
 * are all down). E.g. 64 GPUs found at 256 behind 8 workers, chunks of 500: ⌈2 × 16,384 / 500⌉ +
 * 2 × 8 = 66 + 16 = 82 chunks (41,000 requests; the fleet runs 16,384 of them).
 */
export function chunkWindow(fleet: FleetCapacity, chunkSize: number, floor: number): number {
  const held = Math.ceil((HEADROOM * Math.max(0, fleet.depth)) / Math.max(1, chunkSize)) + MARGIN_PER_WORKER * Math.max(0, fleet.workers);
  return Math.max(floor, Math.min(WINDOW_CEILING, held));
}
