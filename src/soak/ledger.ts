import type { BatchEndpoint } from '../domain/endpoints';
import type { Violation } from './report';

/** What a batch the workload created was asked to do: the checker holds its outcome against this. */
export type TrackedBatch = {
  id: string;
  tenant: string;
  /** Prefix of its custom_ids: `<tag>-<line index>`. */
  tag: string;
  endpoint: BatchEndpoint;
  /** Its custom_ids in input order, when not `<tag>-0 … <tag>-(lines-1)` (a retry's: the parent's failed lines). */
  customIds?: string[];
  lines: number;
  /** Lines whose prompt tells the backend to answer 400: the only lines allowed to fail on their own. */
  askedToFail: Set<string>;
  /** It holds a line that is not JSON: validation must fail it. */
  invalid: boolean;
  /** A completion window short enough that it may expire. */
  shortWindow: boolean;
  /** A cancel the API accepted (`accepted`), or one whose answer was lost (`unknown`). */
  cancel: 'none' | 'accepted' | 'unknown';
  webhook: boolean;
  retryOf?: string;
  /** Set by the status poller once the batch is final. */
  final?: { status: string; outputFileId: string | null; errorFileId: string | null; failed: number; started: boolean };
};

export function customIdsOf(batch: TrackedBatch): string[] {
  return batch.customIds ?? Array.from({ length: batch.lines }, (_, i) => `${batch.tag}-${i}`);
}

/** Everything the workload did that the checker needs, recorded as it happened. */
export class Ledger {
  readonly batches = new Map<string, TrackedBatch>();
  /** custom_id → request id, for queued requests the API acknowledged. */
  readonly queued = new Map<string, { tenant: string; requestId: string }>();
  /** custom_ids of queued requests whose POST failed without an answer: each may be in a batch at most once. */
  readonly queuedAmbiguous = new Set<string>();
  readonly violations: Violation[] = [];
  idempotentReplays = 0;

  violation(invariant: string, record: string, detail: string): void {
    this.violations.push({ invariant, record, detail });
  }

  nonFinal(): TrackedBatch[] {
    return [...this.batches.values()].filter((b) => !b.final);
  }
}
