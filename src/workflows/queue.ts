import { condition, continueAsNew, proxyActivities, setHandler, workflowInfo, setWorkflowOptions } from '@temporalio/workflow';
import type { QueueActivities } from '../activities/queues';
import { enqueuedSignal, queueStateQuery, type QueueDispatcherInput, type QueueDispatcherState } from '../temporal/definitions';
import { whenVersioned } from './versioning';

/** Each check costs a handful of events; well under Temporal's 10,240-event ceiling. */
const CHECKS_PER_RUN = 1000;

const activities = proxyActivities<QueueActivities>({
  startToCloseTimeout: '10 minutes',
  // A dispatcher killed mid-check is retried after this, not after the start-to-close timeout.
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/**
 * A queue's dispatcher (langbatch's BatchDispatcher, made durable): one per (tenant, queue), started
 * or woken by enqueues with signal-with-start. It checks the queue, cutting batches back to back
 * while they are due, then every `time_interval` while requests wait, and sleeps without a timer
 * once the queue is empty, until the next enqueue wakes it. Its state is in Postgres; only counts
 * and IDs cross history.
 */
export async function queueDispatcherWorkflow(input: QueueDispatcherInput): Promise<void> {
  const state: QueueDispatcherState = { phase: 'checking', queued: 0, batchesDispatched: input.batchesDispatched ?? 0, lastBatchId: null, holdReason: null };
  let woken = false;
  setHandler(enqueuedSignal, () => void (woken = true));
  setHandler(queueStateQuery, () => state);

  for (let checks = 0; checks < CHECKS_PER_RUN && !workflowInfo().continueAsNewSuggested; checks++) {
    woken = false;
    state.phase = 'checking';
    const check = await activities.dispatchDue({ tenantId: input.tenantId, queue: input.queue });
    if (check.kind === 'gone') {
      // Deleted: done, unless an enqueue into a queue of the same name came meanwhile.
      if (!woken) return;
      continue;
    }
    state.queued = check.queued;
    if (check.kind === 'dispatched') {
      state.batchesDispatched++;
      state.lastBatchId = check.batchId;
      state.holdReason = null;
      continue;
    }
    state.holdReason = check.reason === 'empty' ? null : check.reason;
    if (check.reason === 'empty') {
      state.phase = 'idle';
      await condition(() => woken);
    } else {
      state.phase = 'waiting';
      await condition(() => woken, check.intervalMs);
    }
  }
  // A signal that arrives meanwhile makes Temporal retry this completion with it: none is lost.
  await continueAsNew<typeof queueDispatcherWorkflow>({ ...input, batchesDispatched: state.batchesDispatched });
}

// Under Worker Versioning (WORKER_DEPLOYMENT_NAME): a dispatcher lives as long as its queue, so it moves to each new build (its changes must be patched; the replay test guards it).
setWorkflowOptions(whenVersioned('AUTO_UPGRADE'), queueDispatcherWorkflow);
