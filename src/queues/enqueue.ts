import { bodyFromText } from '../domain/endpoints';
import { publishedValues } from '../config/published';
import { completionWindowSeconds } from '../domain/window';
import { MAX_LINE_BYTES, validateRequest } from '../batches/lineValidation';
import { withTransaction, type Db } from '../db/pool';
import { newQueueId, newRequestId } from '../ids';
import { appendMember, member, memberText, mergeMembers, objectMembers, objectText, type Member } from '../jsonText';
import { insertQueuedRequests, type NewQueuedRequest } from '../store/queuedRequests';
import { addQueued, insertQueue } from '../store/queues';
import type { WorkflowGateway } from '../temporal/gateway';
import { queuedLine } from './line';
import { DEFAULT_QUEUE, effectiveSettings, queueDefaults, type QueueDefaults, type QueueSettings } from './settings';

export type EnqueueDeps = { db: Db; workflows: WorkflowGateway; maxQueuedPerTenant: number };

/** An item of an enqueue call: its parsed value, and its JSON text as the client wrote it. */
export type EnqueueItem = { value: unknown; text: string };

export type EnqueueOutcome =
  | { kind: 'queued'; queue: string; ids: string[] }
  | { kind: 'queue_not_found'; queue: string }
  | { kind: 'invalid_item'; index: number; code: string; message: string; param: string | null }
  | { kind: 'queue_full'; limit: number; queued: number; adding: number; retryAfterSeconds: number };

/**
 * Queues `items` (each a message list, a prompt string, a partial body, or a full `{custom_id?, body}`
 * item) as one all-or-nothing call: every request is committed in PostgreSQL before this returns,
 * or none is. The dispatcher is woken (started if none runs) before the commit, and its check waits
 * on the queue row this transaction locks, so it cannot look before these requests are visible.
 */
export async function enqueueRequests(deps: EnqueueDeps, tenantId: string, queueName: string, items: EnqueueItem[]): Promise<EnqueueOutcome> {
  // The defaults the orchestrator published: the lines are completed as its dispatcher will see them.
  const defaults = queueDefaults(await publishedValues(deps.db));
  const outcome = await enqueueInTransaction(deps, defaults, tenantId, queueName, items);
  if (outcome.kind !== 'queue_not_found' || queueName !== DEFAULT_QUEUE) return outcome;
  // `default` exists without being created: its row is made on first use.
  await insertQueue(deps.db, { tenantId, name: DEFAULT_QUEUE, id: newQueueId(), settings: {}, requestKwargs: null });
  return enqueueInTransaction(deps, defaults, tenantId, queueName, items);
}

/** The queue's row is counted (and locked) first: its settings complete the items. */
async function enqueueInTransaction(deps: EnqueueDeps, defaults: QueueDefaults, tenantId: string, queueName: string, items: EnqueueItem[]): Promise<EnqueueOutcome> {
  return withTransaction(deps.db, async (client) => {
    const counted = await addQueued(client, tenantId, queueName, items.length);
    if (!counted) throw new Rollback({ kind: 'queue_not_found', queue: queueName });
    const settings = effectiveSettings(counted, defaults);
    const requests = completeRequests(items, settings);
    if (!Array.isArray(requests)) throw new Rollback(requests);
    if (counted.tenantQueued > deps.maxQueuedPerTenant) {
      throw new Rollback({
        kind: 'queue_full',
        limit: deps.maxQueuedPerTenant,
        queued: counted.tenantQueued - items.length,
        adding: items.length,
        retryAfterSeconds: Math.max(1, Math.ceil(settings.time_interval)),
      });
    }
    // A window is checked where it is set: by the queue's schema, or the configuration's at start-up.
    const windowSeconds = completionWindowSeconds(settings.completion_window)!;
    const inserted = await insertQueuedRequests(client, { tenantId, queue: queueName, windowSeconds, requests });
    const skipped = requests.findIndex((r) => !inserted.has(r.id));
    if (skipped >= 0) throw new Rollback(duplicate(skipped, requests[skipped]!.customId, 'a request already queued'));
    if (needsDispatcher(counted, requests.length, settings)) await deps.workflows.notifyQueue(tenantId, queueName);
    return { kind: 'queued', queue: queueName, ids: requests.map((r) => r.id) } as const;
  }).catch((err: unknown) => {
    if (err instanceof Rollback) return err.outcome;
    throw err;
  });
}

/** Every item as a full request, or the first bad one; custom_ids must differ within the call. */
function completeRequests(items: EnqueueItem[], settings: QueueSettings): NewQueuedRequest[] | EnqueueOutcome {
  const requests: NewQueuedRequest[] = [];
  const customIds = new Map<string, number>();
  for (const [index, item] of items.entries()) {
    const built = completeRequest(item, settings, index);
    if ('code' in built) return { kind: 'invalid_item', index, ...built };
    const earlier = customIds.get(built.customId);
    if (earlier !== undefined) return duplicate(index, built.customId, `data[${earlier}] of this call`);
    customIds.set(built.customId, index);
    requests.push(built);
  }
  return requests;
}

/** Ends the transaction without committing, with the outcome to report. */
class Rollback extends Error {
  constructor(readonly outcome: EnqueueOutcome) {
    super(outcome.kind);
  }
}

const duplicate = (index: number, customId: string, holder: string): EnqueueOutcome => ({
  kind: 'invalid_item',
  index,
  code: 'duplicate_custom_id',
  message: `data[${index}]: custom_id ${JSON.stringify(customId)} is already used by ${holder}: a batch needs unique custom_ids.`,
  param: `data[${index}].custom_id`,
});

/**
 * Whether this enqueue must wake the dispatcher: the queue was empty (it may sleep without a timer),
 * it just reached its size threshold (dispatch now, not at the next interval), or the dispatcher has
 * not looked for much longer than its interval (terminated from the Temporal UI, say: this restarts it).
 */
function needsDispatcher(counted: { before: number; secondsSinceChecked: number | null }, added: number, settings: QueueSettings): boolean {
  if (counted.before === 0) return true;
  if (counted.before < settings.queue_threshold && counted.before + added >= settings.queue_threshold) return true;
  return counted.secondsSinceChecked === null || counted.secondsSinceChecked > 2 * settings.time_interval + 30;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * One item as the batch line it will be, validated as that line will be, or why not. Partial items
 * (langbatch's), completed with the queue's `request_kwargs`: a message list (chat), a string (a user
 * message for chat, the prompt for completions, the input for responses and embeddings; score and
 * rerank need two fields, so no string), or a body. A full item `{custom_id?, body}` is taken as is.
 * A body naming no model gets the queue's. Bodies are composed as text, from the item's and the
 * kwargs' texts as written, so nothing the client wrote is lost to a parse and re-serialisation.
 */
function completeRequest(item: EnqueueItem, settings: QueueSettings, index: number): NewQueuedRequest | { code: string; message: string; param: string | null } {
  const subject = `data[${index}]`;
  const { value } = item;
  const id = newRequestId();
  let customId: unknown = id;
  let bodyText: string;
  const completed = (members: Member[]) => objectText(mergeMembers(objectMembers(settings.request_kwargs), members));
  if (Array.isArray(value)) {
    if (settings.endpoint !== '/v1/chat/completions') {
      return { code: 'invalid_item', message: `${subject}: a message list needs a chat queue; this queue's endpoint is ${settings.endpoint}.`, param: subject };
    }
    bodyText = completed([{ key: 'messages', keyText: '"messages"', valueText: item.text }]);
  } else if (typeof value === 'string') {
    const fields = bodyFromText(settings.endpoint, value);
    if (!fields) {
      return { code: 'invalid_item', message: `${subject}: a string is no request for ${settings.endpoint}; send an object with its fields.`, param: subject };
    }
    bodyText = completed(Object.entries(fields).map(([key, field]) => member(key, field)));
  } else if (isObject(value) && 'body' in value) {
    const { custom_id: given, body: _body, ...rest } = value;
    const extra = Object.keys(rest)[0];
    if (extra !== undefined)
      return { code: 'invalid_item', message: `${subject}: unknown field '${extra}' (a full item has custom_id and body).`, param: `${subject}.${extra}` };
    if (given !== undefined) customId = given;
    bodyText = memberText(item.text, 'body')!;
  } else if (isObject(value)) {
    bodyText = completed(objectMembers(item.text));
  } else {
    return { code: 'invalid_item', message: `${subject} must be a message list, a string, or an object.`, param: subject };
  }
  const body: unknown = JSON.parse(bodyText);
  if (settings.model !== null && isObject(body) && !Object.hasOwn(body, 'model')) bodyText = appendMember(bodyText, member('model', settings.model));
  const line = queuedLine(customId, settings.endpoint, bodyText);
  if (Buffer.byteLength(line) > MAX_LINE_BYTES) {
    return {
      code: 'line_too_long',
      message: `${subject}: as a batch line (with custom_id, method, url and the queue's request_kwargs) it exceeds the ${MAX_LINE_BYTES}-byte line limit.`,
      param: subject,
    };
  }
  // As the batch will: the line's own text, parsed, with no default model (the line names its own).
  const verdict = validateRequest(JSON.parse(line), index + 1, { endpoint: settings.endpoint, defaultModel: undefined }, subject);
  if (!verdict.ok) {
    const { code, message, param } = verdict.error;
    return { code, message, param: param === null ? subject : `${subject}.${param}` };
  }
  return { id, customId: verdict.line.customId, model: verdict.line.model, endpoint: settings.endpoint, body: bodyText };
}
