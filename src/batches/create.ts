import { withTransaction, type Db } from '../db/pool';
import { newBatchId } from '../ids';
import { subscribedEvents } from '../states/webhook';
import { insertBatch, type BatchRow } from '../store/batches';
import { findFile } from '../store/files';
import { setBatchWebhook } from '../store/webhooks';
import type { WorkflowGateway } from '../temporal/gateway';
import { vetNewBatchWebhook, type WebhookConfigSchema } from '../webhooks/config';
import type { DestinationPolicy } from '../webhooks/destination';
import type { z } from 'zod';
import { batchPriority } from './priority';
import { completionWindowSeconds } from './window';

/** A create request as the API validated it (`CreateBatchBody`): shapes are checked, references not yet. */
export type CreateBatchRequest = {
  input_file_id: string;
  endpoint: string;
  completion_window: string;
  metadata?: Record<string, string> | null;
  model?: string;
  webhook?: z.output<typeof WebhookConfigSchema> | null;
};

export type CreateBatchOutcome =
  | { kind: 'created'; batch: BatchRow }
  | { kind: 'invalid_input_file'; message: string }
  | { kind: 'invalid_webhook_url'; param: 'webhook.url' | 'metadata.webhook_url'; message: string };

export type CreateBatchDeps = { db: Db; workflows: WorkflowGateway; webhookPolicy: DestinationPolicy };

/**
 * Creates a batch: the input file must be the tenant's and meant for batches, the webhook's
 * destination is vetted now, and the model falls back to `metadata.model`. The row commits only
 * once Temporal has accepted the workflow, so no batch sits in `validating` with nothing running it.
 */
export async function createBatch(deps: CreateBatchDeps, tenantId: string, request: CreateBatchRequest): Promise<CreateBatchOutcome> {
  const inputFile = await findFile(deps.db, tenantId, request.input_file_id);
  if (!inputFile) return { kind: 'invalid_input_file', message: `No such file: '${request.input_file_id}'` };
  if (inputFile.purpose !== 'batch') {
    return { kind: 'invalid_input_file', message: `File '${inputFile.id}' has purpose '${inputFile.purpose}', not 'batch'.` };
  }
  const vetted = await vetNewBatchWebhook(request, deps.webhookPolicy);
  if (vetted.kind === 'refused') return { kind: 'invalid_webhook_url', param: vetted.param, message: vetted.message };
  const webhook = vetted.config;

  const batch = await withTransaction(deps.db, async (client) => {
    const metadata = request.metadata ?? null;
    const row = await insertBatch(client, {
      id: newBatchId(),
      tenantId,
      inputFileId: inputFile.id,
      endpoint: request.endpoint,
      completionWindow: request.completion_window,
      // The schema admitted only windows this parses.
      windowSeconds: completionWindowSeconds(request.completion_window)!,
      model: request.model ?? metadata?.model ?? null,
      metadata,
    });
    if (webhook) await setBatchWebhook(client, row.id, webhook);
    await deps.workflows.startBatch(tenantId, batchPriority(metadata), {
      batchId: row.id,
      expiresAtMs: row.expires_at.getTime(),
      webhookEvents: webhook ? subscribedEvents(webhook) : [],
    });
    return { ...row, webhook };
  });
  return { kind: 'created', batch };
}
