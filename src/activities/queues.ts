import { dispatchDue, type DispatchCheck, type DispatchDeps } from '../queues/dispatch';
import { logger } from '../logger';

/** Activities of the queue dispatcher workflow (orchestrator role): thin wrappers over src/queues. */
export function createQueueActivities(deps: DispatchDeps) {
  return {
    async dispatchDue(input: { tenantId: string; queue: string }): Promise<DispatchCheck> {
      const check = await dispatchDue(deps, input.tenantId, input.queue);
      if (check.kind === 'dispatched') {
        logger.info(
          { batch_id: check.batchId, tenant_id: input.tenantId, queue: input.queue, requests: check.requests, still_queued: check.queued },
          'queue dispatched a batch',
        );
      }
      return check;
    },
  };
}

export type QueueActivities = ReturnType<typeof createQueueActivities>;
