import { withTransaction, type Db, type DbClient } from '../db/pool';
import { newBatchId } from '../ids';
import { subscribedEvents, type WebhookConfig } from '../states/webhook';
import { batchTransitions } from '../metrics/instruments';
import { findBatch, insertBatch, type BatchRow } from '../store/batches';
import { claimKey, type IdempotentRequest } from '../idempotency/claim';
import { findFile } from '../store/files';
import { setBatchWebhook } from '../store/webhooks';
import type { WorkflowGateway } from '../temporal/gateway';
import { vetNewBatchWebhook, type WebhookConfigSchema } from '../webhooks/config';
import type { DestinationPolicy } from '../webhooks/destination';
import type { z } from 'zod';
import { batchPriority } from '../domain/priority';
import { completionWindowSeconds } from '../domain/window';

/** A create request as the API validated it (`CreateBatchBody`): shapes are checked, references not yet. */
export type CreateBatchRequest = {
  input_file_id: string;
  endpoint: string;
  completion_window: string;
  metadata?: Record<string, string> | null;
  model?: string;
  webhook?: z.output<typeof WebhookConfigSchema> | null;
  output_expires_after?: { anchor: 'created_at'; seconds: number };
};

export type CreateBatchOutcome =
  /** `replayed`: an earlier call with the same Idempotency-Key and request created it. */
  | { kind: 'created'; batch: BatchRow; replayed: boolean }
  | { kind: 'invalid_input_file'; message: string }
  | { kind: 'invalid_webhook_url'; param: 'webhook.url' | 'metadata.webhook_url'; message: string }
  | { kind: 'idempotency_key_reused' };

export type CreateBatchDeps = { db: Db; workflows: WorkflowGateway; webhookPolicy: DestinationPolicy };

/**
 * Creates a batch: the input file must be the tenant's and meant for batches, the webhook's
 * destination is vetted now, and the model falls back to `metadata.model`. The row commits only
 * once Temporal has accepted the workflow, so no batch sits in `validating` with nothing running it.
 * With an Idempotency-Key, the key is claimed in the same transaction: of concurrent calls with one
 * key exactly one creates, the others get its batch. `retryOf` links a batch made of another's
 * failed lines (batches/retry.ts).
 */
export async function createBatch(
  deps: CreateBatchDeps,
  tenantId: string,
  request: CreateBatchRequest,
  options: { idempotency?: IdempotentRequest; retryOf?: string } = {},
): Promise<CreateBatchOutcome> {
  const inputFile = await findFile(deps.db, tenantId, request.input_file_id);
  if (!inputFile) return { kind: 'invalid_input_file', message: `No such file: '${request.input_file_id}'` };
  if (inputFile.purpose !== 'batch') {
    return { kind: 'invalid_input_file', message: `File '${inputFile.id}' has purpose '${inputFile.purpose}', not 'batch'.` };
  }
  const vetted = await vetNewBatchWebhook(request, deps.webhookPolicy);
  if (vetted.kind === 'refused') return { kind: 'invalid_webhook_url', param: vetted.param, message: vetted.message };
  const webhook = vetted.config;

  const metadata = request.metadata ?? null;
  const id = newBatchId();
  return withTransaction(deps.db, async (client): Promise<CreateBatchOutcome> => {
    const claim = options.idempotency ? await claimKey(client, tenantId, 'create_batch', options.idempotency, id) : ({ kind: 'claimed' } as const);
    if (claim.kind === 'mismatch') return { kind: 'idempotency_key_reused' };
    if (claim.kind === 'replay') return { kind: 'created', batch: (await findBatch(client, tenantId, claim.resourceId))!, replayed: true };
    const batch = await insertAndStartBatch(client, deps.workflows, {
      id,
      tenantId,
      inputFileId: inputFile.id,
      endpoint: request.endpoint,
      completionWindow: request.completion_window,
      model: request.model ?? metadata?.model ?? null,
      metadata,
      queue: null,
      retryOf: options.retryOf ?? null,
      webhook,
      outputExpiresAfterSeconds: request.output_expires_after?.seconds ?? null,
    });
    return { kind: 'created', batch, replayed: false };
  });
}

export type NewBatch = {
  id: string;
  tenantId: string;
  inputFileId: string;
  endpoint: string;
  /** Already validated: `completionWindowSeconds` parses it. */
  completionWindow: string;
  model: string | null;
  metadata: Record<string, string> | null;
  /** The stream-to-batch queue that cut it, if any. */
  queue: string | null;
  /** The batch whose failed lines it retries, if any. */
  retryOf: string | null;
  /** Already vetted. */
  webhook: WebhookConfig | null;
  /** The output and error files expire this long after they appear (OpenAI's `output_expires_after`). */
  outputExpiresAfterSeconds: number | null;
};

/**
 * In the caller's transaction: inserts the batch row and its webhook, and starts its workflow before
 * the commit, so no committed batch lacks a workflow (the workflow waits a little for a row whose
 * commit it may see first, and gives up on one that never commits). Every batch is created here:
 * `POST /v1/batches` and the stream-to-batch dispatcher alike.
 */
export async function insertAndStartBatch(client: DbClient, workflows: WorkflowGateway, batch: NewBatch): Promise<BatchRow> {
  const row = await insertBatch(client, {
    id: batch.id,
    tenantId: batch.tenantId,
    inputFileId: batch.inputFileId,
    endpoint: batch.endpoint,
    completionWindow: batch.completionWindow,
    windowSeconds: completionWindowSeconds(batch.completionWindow)!,
    model: batch.model,
    metadata: batch.metadata,
    queue: batch.queue,
    outputExpiresAfterSeconds: batch.outputExpiresAfterSeconds,
    retryOf: batch.retryOf,
  });
  if (batch.webhook) await setBatchWebhook(client, row.id, batch.webhook);
  await workflows.startBatch(
    { tenantId: batch.tenantId, priorityKey: batchPriority(batch.metadata), queue: batch.queue },
    {
      batchId: row.id,
      expiresAtMs: row.expires_at.getTime(),
      webhookEvents: batch.webhook ? subscribedEvents(batch.webhook) : [],
    },
  );
  batchTransitions.inc({ to: row.status });
  return { ...row, webhook: batch.webhook };
}
