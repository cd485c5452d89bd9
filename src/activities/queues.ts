import { Context } from '@temporalio/activity';
import { dispatchDue, type DispatchCheck, type DispatchDeps } from '../queues/dispatch';
import { logger } from '../logger';
import { whileHeartbeating } from './heartbeat';

/** Activities of the queue dispatcher workflow (orchestrator role): thin wrappers over src/queues. */
export function createQueueActivities(deps: DispatchDeps) {
  return {
    async dispatchDue(input: { tenantId: string; queue: string }): Promise<DispatchCheck> {
      // A dispatch is one transaction; beats let a dead worker's attempt be retried within the heartbeat timeout.
      const check = await whileHeartbeating(Context.current(), () => dispatchDue(deps, input.tenantId, input.queue));
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
