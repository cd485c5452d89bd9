import { setMaxListeners } from 'node:events';
import { findStoppedBatches } from '../store/batches';
import type { Db } from '../db/pool';
import { logger } from '../logger';

/** How often a GPU worker asks PostgreSQL whether the batches it runs chunks of were cancelled. */
const CHECK_INTERVAL_MS = 250;

/** Why a chunk's requests stopped: its batch was cancelled (or ended) under it. */
class BatchStoppedError extends Error {
  override readonly name = 'BatchStoppedError';
}

/**
 * Tells a GPU worker's chunks within a fraction of a second that their batch was cancelled, so no new
 * request of it starts once the cancel is answered. Temporal's own cancellation reaches a chunk only
 * in a heartbeat's answer, seconds later; a cancel moves the batch to `cancelling` in PostgreSQL
 * before it is answered, and one query every CHECK_INTERVAL_MS for every batch this worker runs
 * chunks of sees it (while chunks run; an outage just delays the answer).
 */
export class CancelWatch {
  private readonly watched = new Map<string, { controller: AbortController; chunks: number }>();
  private timer: NodeJS.Timeout | undefined;
  private failing = false;
  private stopped = false;

  constructor(private readonly db: Db) {}

  /** A signal that aborts once the batch stops running; `release` when the chunk ends. */
  watch(batchId: string): { signal: AbortSignal; release: () => void } {
    let entry = this.watched.get(batchId);
    if (!entry) {
      entry = { controller: new AbortController(), chunks: 0 };
      // Every chunk of the batch this worker runs listens to it, a few times each (the signals
      // combined with it): as many as a batch's window allows, not a leak.
      setMaxListeners(0, entry.controller.signal);
      this.watched.set(batchId, entry);
    }
    entry.chunks++;
    this.timer ??= setTimeout(() => void this.check(), CHECK_INTERVAL_MS);
    const watched = entry;
    return {
      signal: watched.controller.signal,
      release: () => {
        if (--watched.chunks === 0 && this.watched.get(batchId) === watched) this.watched.delete(batchId);
      },
    };
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.watched.clear();
  }

  private async check(): Promise<void> {
    const ids = [...this.watched.keys()];
    try {
      for (const id of await findStoppedBatches(this.db, ids)) {
        const entry = this.watched.get(id);
        if (!entry || entry.controller.signal.aborted) continue;
        logger.info({ batch_id: id }, 'batch stopped running: its chunks here start no more requests');
        entry.controller.abort(new BatchStoppedError(`batch ${id} is no longer running (cancelled)`));
        this.watched.delete(id);
      }
      this.failing = false;
    } catch (err) {
      // Temporal's cancellation still reaches the chunks; this only makes it prompt.
      if (!this.failing) logger.warn({ err: (err as Error).message }, 'checking for cancelled batches failed; retrying');
      this.failing = true;
    }
    this.timer = this.watched.size > 0 && !this.stopped ? setTimeout(() => void this.check(), CHECK_INTERVAL_MS) : undefined;
  }
}
