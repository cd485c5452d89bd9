/**
 * What a soak run (`npm run soak`) reports: written as JSON with `--report FILE`, printed as a
 * markdown table, and drawn as a PNG plot of throughput over time with the faults marked on it.
 */

/** The kinds of fault the nemesis injects; every one is counted in the report, even when zero. */
export const FAULT_KINDS = [
  'kill',
  'pause',
  'postgres-restart',
  'temporal-restart',
  'backend-down',
  'backend-flap',
  'backend-latency',
  'backend-reset',
  'backend-blackhole',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** One fault as it was injected: times in milliseconds since the soak started. */
export type InjectedFault = { kind: FaultKind; target: string; startMs: number; endMs: number };

/** A broken invariant, with the record that shows it (a batch id, a custom_id, a request id). */
export type Violation = { invariant: string; record: string; detail: string };

export type SoakReport = {
  seed: number;
  minutes: number;
  startedAt: string;
  finishedAt: string;
  /** True only when `violations` is empty. */
  passed: boolean;
  machine: { cores: number; loadAverageAtStart: number };
  requests: {
    /** Lines in every batch created (batches and queued requests alike). */
    total: number;
    /** In an output file. */
    succeeded: number;
    /** In an error file with an error the input asked for (a 4xx the backend was told to give). */
    failedAsAsked: number;
    /** In an error file as batch_expired or batch_cancelled. */
    expiredOrCancelled: number;
  };
  /** `idempotentReplays`: creates sent again with their Idempotency-Key, each checked for the same batch. */
  batches: { total: number; byStatus: Record<string, number>; idempotentReplays: number };
  queuedRequests: { total: number; ambiguous: number };
  faults: { total: number; byKind: Record<FaultKind, number>; list: InjectedFault[] };
  /** The counts the issue asks for by name; each non-zero count also has its records in `violations`. */
  invariants: {
    lost: number;
    doubled: number;
    wronglyFailed: number;
    nonFinal: number;
    wrongStatus: number;
    webhooksMissing: number;
    /** Webhook deliveries seen more than once (allowed; counted). */
    webhookDuplicates: number;
    idempotencyMismatches: number;
    queuedLost: number;
    queuedDoubled: number;
  };
  /** API calls through the load balancer answered without a 5xx or a connection error. */
  availability: {
    calls: number;
    ok: number;
    /** Calls made while both API processes, PostgreSQL or the load balancer were down: left out of `ratio`. */
    excluded: number;
    ratio: number;
    /** Failed calls by kind: `503 temporal_unavailable`, `502`, `ECONNREFUSED`, ... */
    failuresByKind: Record<string, number>;
  };
  redo: {
    /** Inference requests the backends answered with a 2xx. */
    backendSuccesses: number;
    /** Lines that ended in an output file. */
    linesSucceeded: number;
    /** backendSuccesses − linesSucceeded: answers computed and thrown away. */
    surplus: number;
    /** Faults that may throw away answers in flight: kills and pauses of GPU workers, backend faults. */
    faultsLosingWork: number;
    perFault: number;
    /** What one such fault may lose at most: the requests a GPU worker has in flight. */
    boundPerFault: number;
  };
  /** Peak resident set size per process name, in MiB. */
  peakRssMiB: Record<string, number>;
  /** Successful backend answers per second, per sample: the fleet's throughput (redone work included). */
  throughput: Array<{ tMs: number; linesPerSecond: number }>;
  violations: Violation[];
};
