import { Client, Connection, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { fairnessKey } from '../domain/priority';
import { INITIAL_STATUS } from '../states/batch';
import type { WebhookEventType } from '../states/webhook';
import { webhookWorkflowId } from '../webhooks/workflowIds';
import type { batchWorkflow, BatchWorkflowInput } from '../workflows/batch';
import type { webhookDeliveryWorkflow } from '../workflows/webhook';
import { cancelSignal, enqueuedSignal, queueWorkflowId, type QueueDispatcherInput } from './definitions';
import { ORCHESTRATOR_TASK_QUEUE } from '../domain/taskQueues';
import { BATCH_QUEUE, BATCH_STATUS, BATCH_TENANT } from './searchAttributes';

export async function connectClient(address: string, namespace: string): Promise<Client> {
  const connection = await Connection.connect({ address });
  return new Client({ connection, namespace });
}

/** Everything the API's use cases ask of Temporal: the one place that starts and signals workflows. */
export type WorkflowGateway = {
  /**
   * The workflow ID is the batch ID: operators find a batch in the Temporal UI by the ID clients
   * see. Its priority (inherited by its chunk activities) orders it in the task queues:
   * `priorityKey` first, then turns between tenants (the fairness key). A workflow of that ID
   * already running is this batch's, started by an attempt whose transaction did not commit (batch
   * IDs never repeat otherwise): it waits for the row this attempt commits.
   */
  startBatch(batch: { tenantId: string; priorityKey: number; queue: string | null }, input: BatchWorkflowInput): Promise<void>;
  /** Wakes the queue's dispatcher workflow, starting it if none runs (signal-with-start: never two per queue). */
  notifyQueue(tenantId: string, queue: string): Promise<void>;
  /** Asks the batch's workflow to stop; one that already ended has nothing left to stop. */
  cancelBatch(batchId: string): Promise<void>;
  /** Whether the batch's workflow still runs (its latest run), has ended, or is unknown to Temporal. */
  batchWorkflowState(batchId: string): Promise<'running' | 'closed' | 'missing'>;
  /** Delivers the batch's event unless a delivery of it was ever started (the reconciler's, for batches whose workflow ended early). */
  deliverWebhook(batchId: string, eventType: WebhookEventType): Promise<void>;
  /** Delivers the event again, under a new workflow ID per replay. */
  replayWebhookDelivery(batchId: string, eventType: WebhookEventType, replayCount: number): Promise<void>;
};

/**
 * How long one call to Temporal may take. A server that is paused, or cut off without the connection
 * closing, answers nothing and sends no error: without a deadline a call waits for it forever, and
 * the API request with it. After this the call fails with DEADLINE_EXCEEDED, which is Temporal being
 * away (isTemporalUnavailable): the API answers 503 temporal_unavailable and an activity retries.
 */
export const TEMPORAL_CALL_DEADLINE_MS = 10_000;

export function workflowGateway(client: Client): WorkflowGateway {
  /** One delivery workflow per batch, event and replay; `reusePolicy` decides whether an ended one may run again. */
  const startDelivery = (batchId: string, eventType: WebhookEventType, replay: number, reusePolicy?: 'REJECT_DUPLICATE') =>
    client.workflow.start<typeof webhookDeliveryWorkflow>('webhookDeliveryWorkflow', {
      taskQueue: ORCHESTRATOR_TASK_QUEUE,
      workflowId: webhookWorkflowId(batchId, eventType, replay),
      args: [{ batchId, eventType }],
      workflowIdReusePolicy: reusePolicy,
    });
  return withDeadlines(client, {
    async startBatch({ tenantId, priorityKey, queue }, input) {
      try {
        await client.workflow.start<typeof batchWorkflow>('batchWorkflow', {
          taskQueue: ORCHESTRATOR_TASK_QUEUE,
          workflowId: input.batchId,
          args: [input],
          priority: { priorityKey, fairnessKey: fairnessKey(tenantId) },
          typedSearchAttributes: [
            { key: BATCH_STATUS, value: INITIAL_STATUS },
            { key: BATCH_TENANT, value: tenantId },
            ...(queue !== null ? [{ key: BATCH_QUEUE, value: queue }] : []),
          ],
        });
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
    },
    async notifyQueue(tenantId, queue) {
      // By name, not type: the dispatcher's module reaches this one through the batches it creates.
      const input: QueueDispatcherInput = { tenantId, queue };
      await client.workflow.signalWithStart('queueDispatcherWorkflow', {
        taskQueue: ORCHESTRATOR_TASK_QUEUE,
        workflowId: queueWorkflowId(tenantId, queue),
        args: [input],
        signal: enqueuedSignal,
        typedSearchAttributes: [
          { key: BATCH_TENANT, value: tenantId },
          { key: BATCH_QUEUE, value: queue },
        ],
      });
    },
    async cancelBatch(batchId) {
      try {
        await client.workflow.getHandle<typeof batchWorkflow>(batchId).signal(cancelSignal);
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      }
    },
    async batchWorkflowState(batchId) {
      try {
        const { status } = await client.workflow.getHandle(batchId).describe();
        return status.name === 'RUNNING' ? 'running' : 'closed';
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return 'missing';
        throw err;
      }
    },
    async deliverWebhook(batchId, eventType) {
      try {
        await startDelivery(batchId, eventType, 0, 'REJECT_DUPLICATE');
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
    },
    async replayWebhookDelivery(batchId, eventType, replayCount) {
      await startDelivery(batchId, eventType, replayCount);
    },
  });
}

/** Every method of `gateway`, each call under its own TEMPORAL_CALL_DEADLINE_MS (gRPC retries included). */
function withDeadlines(client: Client, gateway: WorkflowGateway): WorkflowGateway {
  const bounded = Object.entries(gateway).map(([name, method]: [string, (...args: never[]) => Promise<unknown>]) => [
    name,
    (...args: never[]) => client.withDeadline(Date.now() + TEMPORAL_CALL_DEADLINE_MS, () => method(...args)),
  ]);
  return Object.fromEntries(bounded) as WorkflowGateway;
}
