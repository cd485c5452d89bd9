import { Context } from '@temporalio/activity';
import type { Db } from '../db/pool';
import { reconcileBatches, type ReconciledBatch } from '../pipeline/reconcile';
import { logger } from '../logger';
import { wakeSilentQueues } from '../queues/reconcile';
import type { WorkflowGateway } from '../temporal/gateway';
import { whileHeartbeating } from './heartbeat';

export type ReconcileReport = { batches: ReconciledBatch[]; queuesWoken: number };

/** The reconciler's activity (orchestrator role): thin over src/pipeline and src/queues. */
export function createReconcileActivities(deps: { db: Db; workflows: WorkflowGateway; silentQueueSeconds: number }) {
  return {
    async reconcile(): Promise<ReconcileReport> {
      const context = Context.current();
      return whileHeartbeating(context, async () => {
        const batches = await reconcileBatches(deps, context.cancellationSignal);
        for (const { batchId, was, status } of batches) {
          logger.warn({ batch_id: batchId, was, status }, 'batch whose workflow had ended brought to a terminal status');
        }
        const queuesWoken = await wakeSilentQueues(deps, deps.silentQueueSeconds, context.cancellationSignal);
        if (queuesWoken > 0) logger.warn({ queues: queuesWoken }, 'woke queue dispatchers that had stopped checking');
        return { batches, queuesWoken };
      });
    },
  };
}

export type ReconcileActivities = ReturnType<typeof createReconcileActivities>;
