import { insertAndStartBatch } from '../batches/create';
import { withTransaction, type Db, type DbClient } from '../db/pool';
import { FileContentWriter } from '../files/content';
import { newFileId, queueBatchId } from '../ids';
import { completeFile, insertFile } from '../store/files';
import { claimQueuedRequests, oldestQueued, readClaimedLines } from '../store/queuedRequests';
import { lockQueue, markQueueChecked, recordDispatch } from '../store/queues';
import { listLiveModels } from '../store/workers';
import type { WorkflowGateway } from '../temporal/gateway';
import { effectiveSettings, type QueueDefaults } from './settings';

/** Why a check dispatched nothing. */
export type HoldReason = 'empty' | 'below_thresholds' | 'model_not_served';

export type DispatchCheck =
  | { kind: 'dispatched'; batchId: string; requests: number; queued: number }
  | { kind: 'held'; reason: HoldReason; queued: number; intervalMs: number }
  /** The queue was deleted. */
  | { kind: 'gone' };

export type DispatchDeps = { db: Db; workflows: WorkflowGateway; defaults: QueueDefaults; maxRequestsPerBatch: number };

const PAGE = 1000;

/**
 * One look at a queue: when it holds `queue_threshold` requests, or its oldest has waited
 * `time_threshold` seconds, and a live GPU worker serves that request's model, the oldest requests
 * of that model (up to `max_batch_size`) become one batch. Everything happens in one transaction
 * under the queue's row lock: the claim, the input file, the batch row, and the start of its workflow
 * (through the same path as `POST /v1/batches`), so a crash at any point either leaves every request
 * queued or has dispatched each exactly once. The batch ID derives from the queue and its dispatch
 * count, so an attempt retried after an uncommitted one meets the workflow that one started.
 */
export async function dispatchDue(deps: DispatchDeps, tenantId: string, queue: string): Promise<DispatchCheck> {
  return withTransaction(deps.db, async (client) => {
    const row = await lockQueue(client, tenantId, queue);
    if (!row) return { kind: 'gone' };
    await markQueueChecked(client, tenantId, queue);
    const settings = effectiveSettings(row.settings, deps.defaults);
    const held = (reason: HoldReason) => ({ kind: 'held' as const, reason, queued: row.queued, intervalMs: Math.round(settings.time_interval * 1000) });
    const oldest = row.queued > 0 ? await oldestQueued(client, tenantId, queue) : undefined;
    if (!oldest) return held('empty');
    if (row.queued < settings.queue_threshold && oldest.age_seconds < settings.time_threshold) return held('below_thresholds');
    // Requests wait, rather than become a batch that fails validation with model_not_found or endpoint_not_served.
    if (!(await listLiveModels(client)).some((m) => m.model === oldest.model && m.endpoints.includes(settings.endpoint))) return held('model_not_served');

    const batchId = queueBatchId(row.id, row.dispatch_count + 1);
    const requests = await claimQueuedRequests(client, {
      tenantId,
      queue,
      model: oldest.model,
      limit: Math.min(settings.max_batch_size, deps.maxRequestsPerBatch),
      batchId,
    });
    await recordDispatch(client, tenantId, queue, requests);
    const inputFileId = await writeInputFile(client, { tenantId, batchId, endpoint: settings.endpoint, filename: `${queue}-${row.dispatch_count + 1}.jsonl` });
    await insertAndStartBatch(client, deps.workflows, {
      id: batchId,
      tenantId,
      inputFileId,
      endpoint: settings.endpoint,
      completionWindow: settings.completion_window,
      model: oldest.model,
      metadata: { queue },
      queue,
      retryOf: null,
      webhook: settings.webhook,
      // A queued request's result is read from its batch's result rows, kept as long as the batch's files are.
      outputExpiresAfterSeconds: null,
    });
    return { kind: 'dispatched', batchId, requests, queued: row.queued - requests };
  });
}

/** The batch's input file, a batch-API JSONL file like any upload, written from the claimed requests a page at a time. */
async function writeInputFile(client: DbClient, file: { tenantId: string; batchId: string; endpoint: string; filename: string }): Promise<string> {
  const fileId = newFileId();
  await insertFile(client, { id: fileId, tenantId: file.tenantId, purpose: 'batch', filename: file.filename });
  const writer = new FileContentWriter(client, fileId);
  const url = JSON.stringify(file.endpoint);
  for (let after = 0; ; after += PAGE) {
    const lines = await readClaimedLines(client, file.batchId, after, PAGE);
    // Bodies are stored JSON text, spliced in unparsed.
    for (const line of lines) writer.buffer(`{"custom_id":${JSON.stringify(line.custom_id)},"method":"POST","url":${url},"body":${line.body}}\n`);
    await writer.flushFullParts();
    if (lines.length < PAGE) break;
  }
  await completeFile(client, fileId, await writer.end(), 'batch');
  return fileId;
}
