import { insertAndStartBatch } from '../batches/create';
import { withTransaction, type Db, type DbClient } from '../db/pool';
import { FileContentWriter } from '../files/content';
import { newFileId, queueBatchId } from '../ids';
import { completeFile, insertFile } from '../store/files';
import { claimQueuedRequests, expireQueuedRequests, queuedGroups, readClaimedLines, type QueuedGroup } from '../store/queuedRequests';
import { lockQueue, markQueueChecked, recordDispatch, type QueueRow } from '../store/queues';
import { listLiveModels } from '../store/inferenceWorkers';
import type { WorkflowGateway } from '../temporal/gateway';
import { queuedLine } from './line';
import { effectiveSettings, type QueueDefaults, type QueueSettings } from './settings';

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
 * One look at a queue. Its requests form groups by (model, endpoint), each the lines of possible
 * batches; the first group, oldest request first, that is due (it holds `queue_threshold` requests, or
 * its oldest has waited `time_threshold` seconds) and whose model a live GPU worker serves at its
 * endpoint becomes one batch of its oldest requests (up to `max_batch_size`). A group whose model is
 * not served waits, holding no other group, and its requests whose completion window has passed end
 * `expired` one by one. Everything happens in one transaction under the queue's row lock: the claim,
 * the input file, the batch row, and the start of its workflow (through the same path as
 * `POST /v1/batches`), so a crash at any point either leaves every request queued or has dispatched
 * each exactly once. The batch ID derives from the queue and its dispatch count, so an attempt retried
 * after an uncommitted one meets the workflow that one started.
 */
export async function dispatchDue(deps: DispatchDeps, tenantId: string, queue: string): Promise<DispatchCheck> {
  return withTransaction(deps.db, async (client) => {
    const row = await lockQueue(client, tenantId, queue);
    if (!row) return { kind: 'gone' };
    await markQueueChecked(client, tenantId, queue);
    const settings = effectiveSettings(row, deps.defaults);
    let queued = row.queued;
    const held = (reason: HoldReason) => ({ kind: 'held' as const, reason, queued, intervalMs: Math.round(settings.time_interval * 1000) });
    const groups = queued > 0 ? await queuedGroups(client, tenantId, queue) : [];
    if (groups.length === 0) return held('empty');

    const live = await listLiveModels(client);
    let unserved = false;
    for (const group of groups) {
      const of = { tenantId, queue, model: group.model, endpoint: group.endpoint };
      // Requests wait, rather than become a batch that fails validation with model_not_found or endpoint_not_served.
      if (!live.some((m) => m.model === group.model && m.endpoints.includes(group.endpoint))) {
        const expired = await expireQueuedRequests(client, of);
        queued -= expired;
        if (expired < group.queued) unserved = true;
        continue;
      }
      if (group.queued < settings.queue_threshold && group.oldest_age_seconds < settings.time_threshold) continue;
      return dispatchGroup(deps, client, { row, settings, group, queued });
    }
    return held(queued === 0 ? 'empty' : unserved ? 'model_not_served' : 'below_thresholds');
  });
}

/** Cuts one batch of the group's oldest requests, under the queue's row lock; `queued` is the queue's count before it. */
async function dispatchGroup(
  deps: DispatchDeps,
  client: DbClient,
  { row, settings, group, queued }: { row: QueueRow; settings: QueueSettings; group: QueuedGroup; queued: number },
): Promise<DispatchCheck> {
  const { tenant_id: tenantId, name: queue } = row;
  const batchId = queueBatchId(row.id, row.dispatch_count + 1);
  const requests = await claimQueuedRequests(client, {
    tenantId,
    queue,
    model: group.model,
    endpoint: group.endpoint,
    limit: Math.min(settings.max_batch_size, deps.maxRequestsPerBatch),
    batchId,
  });
  await recordDispatch(client, tenantId, queue, requests);
  const inputFileId = await writeInputFile(client, { tenantId, batchId, endpoint: group.endpoint, filename: `${queue}-${row.dispatch_count + 1}.jsonl` });
  await insertAndStartBatch(client, deps.workflows, {
    id: batchId,
    tenantId,
    inputFileId,
    endpoint: group.endpoint,
    completionWindow: settings.completion_window,
    model: group.model,
    metadata: { queue },
    queue,
    retryOf: null,
    webhook: settings.webhook,
    // A queued request's result is read from its batch's result rows, kept as long as the batch's files are.
    outputExpiresAfterSeconds: null,
  });
  return { kind: 'dispatched', batchId, requests, queued: queued - requests };
}

/** The batch's input file, a batch-API JSONL file like any upload, written from the claimed requests a page at a time. */
async function writeInputFile(client: DbClient, file: { tenantId: string; batchId: string; endpoint: string; filename: string }): Promise<string> {
  const fileId = newFileId();
  await insertFile(client, { id: fileId, tenantId: file.tenantId, purpose: 'batch', filename: file.filename });
  const writer = new FileContentWriter(client, fileId);
  for (let after = 0; ; after += PAGE) {
    const lines = await readClaimedLines(client, file.batchId, after, PAGE);
    // The lines exactly as they were validated at enqueue: bodies are stored JSON text, spliced in unparsed.
    for (const line of lines) writer.buffer(`${queuedLine(line.custom_id, file.endpoint, line.body)}\n`);
    await writer.flushFullParts();
    if (lines.length < PAGE) break;
  }
  await completeFile(client, fileId, await writer.end(), 'batch');
  return fileId;
}
