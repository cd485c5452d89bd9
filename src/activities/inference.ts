import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import type { Db } from '../db/pool';
import { ChunkHandedBackError, ChunkStalledError, runChunk, type ChunkProgress, type ChunkReport } from '../pipeline/chunk';
import type { InferenceClient } from '../inference/client';
import { DEFAULT_BATCH_PRIORITY } from '../domain/priority';
import { logger } from '../logger';
import { chunkAttempts, redoneRequests } from '../metrics/instruments';
import { whileHeartbeating } from './heartbeat';

export type ChunkArgs = { batchId: string; chunkNo: number; endpoint: string };

/** What tells a chunk at once that its batch stopped running (a cancel), before Temporal's cancellation reaches it. */
export type BatchStopWatch = { watch(batchId: string): { signal: AbortSignal; release: () => void } };

/**
 * A chunk whose batch stopped waits this long, heartbeating, for Temporal's cancellation (which
 * follows the cancel signal to the workflow within a heartbeat or two), so the attempt ends as
 * cancelled, as the workflow waits for, rather than as a failure Temporal would retry.
 */
const CANCELLATION_WAIT_MS = 60_000;

/** The GPU worker's activity: one chunk of one batch against this worker's backends. */
export function createInferenceActivities(deps: {
  db: Db;
  inference: InferenceClient;
  stallTimeoutMs: number;
  resultWriteRetryMs: number;
  admission?: { chunkQueued(): void };
  stops?: BatchStopWatch;
}) {
  return {
    async processChunk(args: ChunkArgs): Promise<ChunkReport> {
      const context = Context.current();
      const log = logger.child({ batch_id: args.batchId, chunk: args.chunkNo, attempt: context.info.attempt });
      const retry = context.info.attempt > 1;
      let latest: ChunkProgress | undefined;
      // Admission leases the next chunk once this one's requests are queued (its first progress report).
      let queued = false;
      const markQueued = () => {
        if (!queued) deps.admission?.chunkQueued();
        queued = true;
      };
      const stop = deps.stops?.watch(args.batchId);
      try {
        const report = await whileHeartbeating(
          context,
          () =>
            runChunk(deps, args, {
              signal: stop ? AbortSignal.any([context.cancellationSignal, stop.signal]) : context.cancellationSignal,
              stallTimeoutMs: deps.stallTimeoutMs,
              resultWriteRetryMs: deps.resultWriteRetryMs,
              // The batch workflow's priority, inherited: its metadata.priority and its tenant as fairness key.
              claim: { priority: context.info.priority?.priorityKey || DEFAULT_BATCH_PRIORITY, key: context.info.priority?.fairnessKey || args.batchId },
              // Reported on the beat, not per flush: a heartbeat costs the SDK a payload encoding each time.
              onProgress: (progress) => {
                // The first report holds what the attempt found to do; a retry's is work done again.
                if (latest === undefined && retry) redoneRequests.inc(progress.pending);
                markQueued();
                latest = progress;
              },
            }).catch(async (err: unknown) => {
              if (stop?.signal.aborted) return endAsCancelled(context, err);
              throw err;
            }),
          () => latest,
        );
        if (typeof report.lines === 'object') log.warn({ executed: report.executed, reason: report.lines.deferred }, 'chunk done; its lines are left to finalize');
        else log.debug({ executed: report.executed, lines: report.lines }, 'chunk done');
        chunkAttempts.inc({ outcome: 'done', retry: String(retry) });
        return report;
      } catch (err) {
        const outcome = context.cancellationSignal.aborted
          ? 'cancelled'
          : err instanceof ChunkStalledError
            ? 'stalled'
            : err instanceof ChunkHandedBackError
              ? 'handed_back'
              : 'failed';
        if (outcome === 'cancelled') log.info({ done: latest?.done }, 'chunk cancelled; finished results kept');
        else if (outcome === 'stalled' || outcome === 'handed_back') log.warn({ done: latest?.done }, (err as Error).message);
        chunkAttempts.inc({ outcome, retry: String(retry) });
        throw err;
      } finally {
        stop?.release();
        markQueued();
      }
    },
  };
}

/**
 * Ends a chunk stopped by its batch's cancel the way Temporal's cancellation would: with the
 * CancelledFailure of that cancellation once it arrives (the SDK reports any other error as a
 * failure, to retry), or with `err` if it has not arrived within CANCELLATION_WAIT_MS.
 */
async function endAsCancelled(context: Context, err: unknown): Promise<never> {
  const waited = new AbortController();
  try {
    await Promise.race([context.cancelled, sleep(CANCELLATION_WAIT_MS, undefined, { signal: waited.signal })]);
  } finally {
    waited.abort();
  }
  throw err;
}

export type InferenceActivities = ReturnType<typeof createInferenceActivities>;
