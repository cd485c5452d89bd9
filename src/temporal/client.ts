import { Client, Connection } from '@temporalio/client';
import { fairnessKey } from '../batches/priority';
import type { BatchWorkflowInput } from '../workflows/batch';
import { ORCHESTRATOR_TASK_QUEUE } from './names';
import { BATCH_STATUS, BATCH_TENANT } from './searchAttributes';

export async function connectClient(address: string, namespace: string): Promise<Client> {
  const connection = await Connection.connect({ address });
  return new Client({ connection, namespace });
}

/**
 * The workflow ID is the batch ID: operators find a batch in the Temporal UI by the ID clients see.
 * Its priority (inherited by its chunk activities) orders it in the task queues: `priorityKey`
 * first, then turns between tenants (the fairness key).
 */
export async function startBatchWorkflow(client: Client, tenantId: string, priorityKey: number, input: BatchWorkflowInput): Promise<void> {
  await client.workflow.start('batchWorkflow', {
    taskQueue: ORCHESTRATOR_TASK_QUEUE,
    workflowId: input.batchId,
    args: [input],
    priority: { priorityKey, fairnessKey: fairnessKey(tenantId) },
    typedSearchAttributes: [
      { key: BATCH_STATUS, value: 'validating' },
      { key: BATCH_TENANT, value: tenantId },
    ],
  });
}
