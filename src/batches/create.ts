import type { Client } from '@temporalio/client';
import { withTransaction, type Db } from '../db/pool';
import { newBatchId } from '../ids';
import { batchPriority } from './priority';
import { insertBatch, type BatchRow } from '../store/batches';
import { startBatchWorkflow } from '../temporal/client';
import { setBatchWebhook } from '../store/webhooks';
import { subscribedEvents, type WebhookConfig } from '../states/webhook';

export type NewBatch = {
  tenantId: string;
  inputFileId: string;
  endpoint: string;
  completionWindow: string;
  windowSeconds: number;
  model: string | null;
  metadata: Record<string, string> | null;
  webhook: WebhookConfig | null;
};

/**
 * Records the batch and starts its workflow as one step: the row commits only once Temporal has
 * accepted the workflow, so no batch sits in `validating` with nothing running it.
 */
export async function createBatch(
  deps: { db: Db; temporal: Client; run: { chunksInFlight: number; chunkHeartbeatTimeoutMs: number } },
  batch: NewBatch,
): Promise<BatchRow> {
  return withTransaction(deps.db, async (client) => {
    const { webhook, ...fields } = batch;
    const row = await insertBatch(client, { id: newBatchId(), ...fields });
    if (webhook) await setBatchWebhook(client, row.id, webhook);
    await startBatchWorkflow(deps.temporal, row.tenant_id, batchPriority(batch.metadata), {
      batchId: row.id,
      ...deps.run,
      expiresAtMs: row.expires_at.getTime(),
      webhookEvents: webhook ? subscribedEvents(webhook) : [],
    });
    return { ...row, webhook };
  });
}
