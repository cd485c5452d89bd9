import { Context } from '@temporalio/activity';
import type { Db } from '../db/pool';
import { runChunk, type ChunkReport } from '../batches/chunk';
import type { InferenceClient } from '../inference/client';
import { logger } from '../logger';

export type ChunkArgs = { batchId: string; chunkNo: number; endpoint: string };

/** The GPU worker's activity: one chunk of one batch against this worker's backends. */
export function createInferenceActivities(deps: { db: Db; inference: InferenceClient }) {
  return {
    async processChunk(args: ChunkArgs): Promise<ChunkReport> {
      const context = Context.current();
      const log = logger.child({ batch_id: args.batchId, chunk: args.chunkNo, attempt: context.info.attempt });
      const report = await runChunk(deps, args, {
        signal: context.cancellationSignal,
        onProgress: (progress) => context.heartbeat(progress),
      });
      log.debug({ executed: report.executed }, 'chunk done');
      return report;
    },
  };
}

export type InferenceActivities = ReturnType<typeof createInferenceActivities>;
