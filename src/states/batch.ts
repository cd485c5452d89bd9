/**
 * The batch lifecycle, defined once. Every layer (API objects, workflows, activities, domain, store,
 * tests) takes its statuses and sets from here, and PostgreSQL checks the same list
 * (`batches_status_check`, migration 007; test/unit/states.test.ts keeps the two equal). A leaf:
 * it imports nothing, so a workflow may import it too.
 */

export const BATCH_STATUSES = ['validating', 'failed', 'in_progress', 'finalizing', 'completed', 'expired', 'cancelling', 'cancelled'] as const;
export type BatchStatus = (typeof BATCH_STATUSES)[number];

/** Every batch starts here, and no transition leads back. */
export const INITIAL_STATUS = 'validating' satisfies BatchStatus;

/** Where a batch ends. Nothing leaves these: see `BATCH_TRANSITIONS`. */
export const TERMINAL_STATUSES = ['completed', 'failed', 'expired', 'cancelled'] as const satisfies readonly BatchStatus[];
export type TerminalStatus = (typeof TERMINAL_STATUSES)[number];

/**
 * The only transitions a batch may take, as the statuses each target may be reached from. The store
 * enforces them in the UPDATE itself, so concurrent or retried writers can never move a status
 * backwards or out of a terminal state.
 */
export const BATCH_TRANSITIONS: Readonly<Record<Exclude<BatchStatus, typeof INITIAL_STATUS>, readonly BatchStatus[]>> = {
  in_progress: ['validating'],
  // From validating: the input was refused; from in_progress: a chunk failed for good.
  failed: ['validating', 'in_progress'],
  finalizing: ['in_progress'],
  completed: ['finalizing'],
  expired: ['validating', 'in_progress', 'finalizing'],
  cancelling: ['validating', 'in_progress'],
  cancelled: ['validating', 'cancelling'],
};

/** Chunks start requests only in these: running, and validating for its first chunks, which start before validation ends. */
export const RUNS_CHUNKS = ['validating', 'in_progress'] as const satisfies readonly BatchStatus[];

/**
 * Chunk results are stored only in these: running, or draining after a cancel, and while validating,
 * for the first chunks, which start before validation ends (a batch that then fails or is cancelled
 * before it runs drops theirs: `discardUnstartedBatch`).
 */
export const ACCEPTS_RESULTS = ['validating', 'in_progress', 'cancelling'] as const satisfies readonly BatchStatus[];

/** Ended without running to completion: its planned requests will never all run. */
export const ENDED_UNFINISHED = ['failed', 'expired', 'cancelled'] as const satisfies readonly BatchStatus[];

/** The ends that write output and error files: ran through, stopped by cancel or expiry, or failed while running. */
export const FINALIZE_OUTCOMES = ['completed', 'expired', 'cancelled', 'failed'] as const satisfies readonly TerminalStatus[];
export type FinalizeOutcome = (typeof FINALIZE_OUTCOMES)[number];

/**
 * Whether the batch has run, so that the results it stores are its own: once in progress (stamped
 * `in_progress_at`), and any status only reached through it. Before, only its first chunks can have
 * run (they start while it validates), and a batch that ends without running drops what they did.
 */
export const hasRun = (batch: { status: BatchStatus; in_progress_at: Date | null }): boolean =>
  batch.in_progress_at !== null || !(batch.status === INITIAL_STATUS || (ENDED_UNFINISHED as readonly BatchStatus[]).includes(batch.status));

export const isTerminal = (status: BatchStatus): status is TerminalStatus => (TERMINAL_STATUSES as readonly BatchStatus[]).includes(status);
export const isFinalizeOutcome = (status: BatchStatus): status is FinalizeOutcome => (FINALIZE_OUTCOMES as readonly BatchStatus[]).includes(status);
