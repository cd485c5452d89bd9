import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { fairnessKey } from '../batches/priority';
import { INITIAL_STATUS } from '../states/batch';
import type { WebhookEventType } from '../states/webhook';
import { webhookWorkflowId } from '../webhooks/workflowIds';
import type { batchWorkflow, BatchWorkflowInput } from '../workflows/batch';
import type { webhookDeliveryWorkflow } from '../workflows/webhook';
import { cancelSignal, ORCHESTRATOR_TASK_QUEUE } from './definitions';
import { BATCH_STATUS, BATCH_TENANT } from './searchAttributes';

export async function connectClient(address: string, namespace: string): Promise<Client> {
  const connection = await Connection.connect({ address });
  return new Client({ connection, namespace });
}

/** Everything the API's use cases ask of Temporal: the one place that starts and signals workflows. */
export type WorkflowGateway = {
  /**
   * The workflow ID is the batch ID: operators find a batch in the Temporal UI by the ID clients
   * see. Its priority (inherited by its chunk activities) orders it in the task queues:
   * `priorityKey` first, then turns between tenants (the fairness key).
   */
  startBatch(tenantId: string, priorityKey: number, input: BatchWorkflowInput): Promise<void>;
  /** Asks the batch's workflow to stop; one that already ended has nothing left to stop. */
  cancelBatch(batchId: string): Promise<void>;
  /** Delivers the event again, under a new workflow ID per replay. */
  replayWebhookDelivery(batchId: string, eventType: WebhookEventType, replayCount: number): Promise<void>;
};

export function workflowGateway(client: Client): WorkflowGateway {
  return {
    async startBatch(tenantId, priorityKey, input) {
      await client.workflow.start<typeof batchWorkflow>('batchWorkflow', {
        taskQueue: ORCHESTRATOR_TASK_QUEUE,
        workflowId: input.batchId,
        args: [input],
        priority: { priorityKey, fairnessKey: fairnessKey(tenantId) },
        typedSearchAttributes: [
          { key: BATCH_STATUS, value: INITIAL_STATUS },
          { key: BATCH_TENANT, value: tenantId },
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
    async replayWebhookDelivery(batchId, eventType, replayCount) {
      await client.workflow.start<typeof webhookDeliveryWorkflow>('webhookDeliveryWorkflow', {
        taskQueue: ORCHESTRATOR_TASK_QUEUE,
        workflowId: webhookWorkflowId(batchId, eventType, replayCount),
        args: [{ batchId, eventType }],
      });
    },
  };
}
