import type { z } from 'zod';
import { publishedValues } from '../config/published';
import type { Db } from '../db/pool';
import { newQueueId } from '../ids';
import { deleteQueue, findQueue, insertQueue, listQueues, updateQueueSettings, type QueueDeletion } from '../store/queues';
import type { WorkflowGateway } from '../temporal/gateway';
import { vetNewBatchWebhook } from '../webhooks/config';
import type { DestinationPolicy } from '../webhooks/destination';
import { toQueueObject, type QueueObject } from './object';
import { DEFAULT_QUEUE, queueDefaults, type CreateQueueBody, type QueueDefaults, type QueueSettingsPatch, type UpdateQueueBody } from './settings';

/** The orchestrator's settings (queue defaults, MAX_REQUESTS_PER_BATCH) are read as it published them, per call. */
export type QueueDeps = { db: Db; workflows: WorkflowGateway; webhookPolicy: DestinationPolicy };

/** A queue, or none of that name for the tenant. */
export type QueueLookup = { kind: 'ok'; queue: QueueObject } | { kind: 'not_found' };
/** Settings the schema cannot refuse and the server does (a batch size above its limit, a webhook destination). */
export type InvalidSettings = { kind: 'invalid'; param: string; code: 'invalid_value' | 'invalid_webhook_url'; message: string };

/**
 * Creates a queue; unset settings follow the QUEUE_* defaults. `requestKwargs` is the text of
 * `request.request_kwargs` as written (`requestKwargsText`), which is what the queue keeps.
 */
export async function createQueue(
  deps: QueueDeps,
  tenantId: string,
  request: z.output<typeof CreateQueueBody>,
  requestKwargs: string | null | undefined,
): Promise<QueueLookup | InvalidSettings | { kind: 'exists' }> {
  const { name, request_kwargs: _parsed, ...settings } = request;
  const refused = await refusal(deps, settings);
  if (refused) return refused;
  const created = await insertQueue(deps.db, { tenantId, name, id: newQueueId(), settings, requestKwargs: requestKwargs ?? null });
  if (!created) return { kind: 'exists' };
  return retrieveQueue(deps, tenantId, name);
}

/**
 * Changes the given settings; `null` returns one to its default. Requests already queued keep the
 * lines they were accepted as: the change concerns only later ones. It wakes the dispatcher, since
 * new thresholds may make the queue due now.
 */
export async function updateQueue(
  deps: QueueDeps,
  tenantId: string,
  name: string,
  request: z.output<typeof UpdateQueueBody>,
  requestKwargs: string | null | undefined,
): Promise<QueueLookup | InvalidSettings> {
  const { request_kwargs: _parsed, ...patch } = request;
  const refused = await refusal(deps, patch);
  if (refused) return refused;
  if (name === DEFAULT_QUEUE) await insertQueue(deps.db, { tenantId, name, id: newQueueId(), settings: {}, requestKwargs: null });
  const updated = await updateQueueSettings(deps.db, { tenantId, name, patch, requestKwargs });
  if (!updated) return { kind: 'not_found' };
  if (updated.queued > 0) await deps.workflows.notifyQueue(tenantId, name);
  return retrieveQueue(deps, tenantId, name);
}

export async function retrieveQueue(deps: Pick<QueueDeps, 'db'>, tenantId: string, name: string): Promise<QueueLookup> {
  const defaults = queueDefaults(await publishedValues(deps.db));
  const row = await findQueue(deps.db, tenantId, name);
  if (row) return { kind: 'ok', queue: toQueueObject(row, defaults) };
  if (name !== DEFAULT_QUEUE) return { kind: 'not_found' };
  return { kind: 'ok', queue: implicitDefault(defaults) };
}

/** The tenant's queues by name, `default` among them even before its first use. */
export async function listQueueObjects(deps: Pick<QueueDeps, 'db'>, tenantId: string): Promise<QueueObject[]> {
  const defaults = queueDefaults(await publishedValues(deps.db));
  const queues = (await listQueues(deps.db, tenantId)).map((row) => toQueueObject(row, defaults));
  if (!queues.some((q) => q.name === DEFAULT_QUEUE)) queues.push(implicitDefault(defaults));
  return queues.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** Refused while requests wait in it (cancel them first); deleting `default` resets its settings. */
export async function removeQueue(db: Db, tenantId: string, name: string): Promise<QueueDeletion> {
  const outcome = await deleteQueue(db, tenantId, name);
  return outcome === 'not_found' && name === DEFAULT_QUEUE ? 'deleted' : outcome;
}

function implicitDefault(defaults: QueueDefaults): QueueObject {
  const now = new Date();
  return toQueueObject(
    {
      tenant_id: '',
      name: DEFAULT_QUEUE,
      id: '',
      settings: {},
      request_kwargs: null,
      queued: 0,
      dispatch_count: 0,
      last_dispatch_at: null,
      checked_at: null,
      created_at: now,
      oldest_queued_at: null,
      batches_in_flight: 0,
    },
    defaults,
  );
}

/**
 * What the schema cannot check: a batch size within the orchestrator's limit (as it published it: the
 * dispatcher cuts no batch above it), and a webhook destination allowed now.
 */
async function refusal(deps: QueueDeps, settings: QueueSettingsPatch): Promise<InvalidSettings | undefined> {
  if (settings.max_batch_size !== undefined && settings.max_batch_size !== null) {
    const { MAX_REQUESTS_PER_BATCH: limit } = await publishedValues(deps.db);
    if (settings.max_batch_size > limit) {
      return { kind: 'invalid', param: 'max_batch_size', code: 'invalid_value', message: `Invalid 'max_batch_size': at most ${limit} (MAX_REQUESTS_PER_BATCH).` };
    }
  }
  if (!settings.webhook) return undefined;
  const vetted = await vetNewBatchWebhook({ webhook: settings.webhook }, deps.webhookPolicy);
  if (vetted.kind === 'refused') return { kind: 'invalid', param: vetted.param, code: 'invalid_webhook_url', message: vetted.message };
  return undefined;
}
