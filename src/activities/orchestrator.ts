import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Db } from '../db/pool';
import { finalizeBatch } from '../pipeline/finalize';
import { BatchNotFoundError, indexHead, validateAndPlan, type BatchHead, type BatchPlan, type PlanLimits } from '../pipeline/plan';
import { logger } from '../logger';
import { whileHeartbeating } from './heartbeat';
import type { BatchStatus, FinalizeOutcome } from '../states/batch';
import { chunkWindow } from '../domain/chunkWindow';
import { fleetCapacity } from '../store/inferenceWorkers';

/** With the workflow's backoff (1 s doubling to 1 min) this waits about five minutes. */
const BATCH_ROW_ATTEMPTS = 10;

/**
 * How a planned batch's chunks are scheduled. Read by the orchestrator role, which runs the batch
 * workflows, and handed to each workflow with its plan: in a split deployment these settings belong
 * to the orchestrator, not to the API that starts the workflow.
 */
export type RunSettings = {
  /**
   * CHUNKS_IN_FLIGHT_PER_BATCH: the floor of the batch's window, which otherwise follows the fleet
   * (`chunkWindow`). Workflow code from before the window followed the fleet (a replayed history, a
   * rollback) schedules exactly this many.
   */
  chunksInFlight: number;
  chunkHeartbeatTimeoutMs: number;
  /** CHUNK_SIZE the batch was planned with; absent from plans made before the window followed the fleet. */
  chunkSize?: number;
};

/** What a batch's window is read for: its model and endpoint, the size of its chunks, and its floor. */
export type ChunkWindowInput = { model: string; endpoint: string; chunkSize?: number; floor: number };

/** A plan as the workflow receives it: a batch that runs carries its run settings. */
export type RunPlan = Exclude<BatchPlan, { outcome: 'in_progress' }> | (Extract<BatchPlan, { outcome: 'in_progress' }> & { run: RunSettings });

/** A batch's head as the workflow receives it: with the run settings its first chunks run with. */
export type RunHead = BatchHead & { run: RunSettings };

/** Light activities of the orchestrator role: thin wrappers over the batch domain modules. */
export function createOrchestratorActivities(deps: { db: Db; limits: PlanLimits; run: RunSettings }) {
  return {
    /**
     * The number of the batch's chunks to keep in flight now, from the capacity the live GPU workers
     * serving its model report (src/domain/chunkWindow.ts). Run as a local activity: one marker event
     * in the batch's history per reading. Null when PostgreSQL cannot say: the workflow keeps the window
     * it has, since a reading only tunes throughput and is never worth waiting or failing for.
     */
    async chunkWindow({ model, endpoint, chunkSize, floor }: ChunkWindowInput): Promise<number | null> {
      try {
        return chunkWindow(await fleetCapacity(deps.db, model, endpoint), chunkSize ?? deps.limits.chunkSize, floor);
      } catch (err) {
        logger.warn({ err: (err as Error).message, model }, 'could not read the fleet capacity: the batch keeps its window');
        return null;
      }
    },

    /**
     * The batch's first `chunks` chunks, validated and indexed so that they run while the rest is
     * validated (`indexHead`); null when none should. Run as a local activity (no heartbeats: it
     * reads a few hundred KB). A batch row not committed yet is retried by the workflow's policy.
     */
    async indexHead(batchId: string, chunks: number): Promise<RunHead | null> {
      const { cancellationSignal } = Context.current();
      const first = await indexHead(deps.db, batchId, deps.limits, { chunks }, { onProgress: () => cancellationSignal.throwIfAborted() });
      if (first) logger.info({ batch_id: batchId, chunks: first.chunks, model: first.model }, 'its first chunks start while the batch is validated');
      return first && { ...first, run: { ...deps.run, chunkSize: deps.limits.chunkSize } };
    },

    async validateAndPlan(batchId: string): Promise<RunPlan> {
      const log = logger.child({ batch_id: batchId, activity: 'validateAndPlan' });
      try {
        const context = Context.current();
        let progress = { linesRead: 0 };
        const plan = await whileHeartbeating(
          context,
          () =>
            validateAndPlan(deps.db, batchId, deps.limits, {
              // Heartbeats deliver cancellation: a cancelled batch stops validating at the next line, or waiting for its model.
              signal: context.cancellationSignal,
              onProgress: (linesRead) => {
                progress = { linesRead };
                context.cancellationSignal.throwIfAborted();
              },
            }),
          () => progress,
        );
        log.info({ plan }, 'validated input');
        return plan.outcome === 'in_progress' ? { ...plan, run: { ...deps.run, chunkSize: deps.limits.chunkSize } } : plan;
      } catch (err) {
        // The API starts the workflow just before its transaction commits the batch row: wait a little
        // for the row, but give up on a batch whose creation never committed.
        if (err instanceof BatchNotFoundError) {
          const giveUp = Context.current().info.attempt >= BATCH_ROW_ATTEMPTS;
          throw giveUp ? ApplicationFailure.nonRetryable(err.message, 'BatchNotFound') : ApplicationFailure.retryable(err.message, 'BatchNotFound');
        }
        throw err;
      }
    },

    /** Returns the status the batch ended in (a batch cancelled while finishing ends cancelled). */
    async finalizeBatch(batchId: string, outcome: FinalizeOutcome): Promise<BatchStatus> {
      const context = Context.current();
      // Writing the lines of many chunks stopped before running takes minutes: heartbeats show the attempt is alive, not stuck.
      let progress = { chunks_written: 0 };
      const batch = await whileHeartbeating(
        context,
        () => finalizeBatch(deps.db, batchId, outcome, (chunks) => void (progress = { chunks_written: chunks })),
        () => progress,
      );
      logger.info(
        {
          batch_id: batchId,
          status: batch.status,
          completed: batch.completed_requests,
          failed: batch.failed_requests,
          output_file_id: batch.output_file_id,
          error_file_id: batch.error_file_id,
        },
        'batch finalized',
      );
      return batch.status;
    },
  };
}

export type OrchestratorActivities = ReturnType<typeof createOrchestratorActivities>;
