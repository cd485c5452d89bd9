import fs from 'node:fs';
import readline from 'node:readline';
import { Option, type Command } from 'commander';
import type OpenAI from 'openai';
import type { QueuedRequestObject, QueueObject } from '../../queues/object';
import { jsonObject, positiveInt, seconds } from '../args';
import { apiClient, type GlobalOptions } from '../client';
import { isoTime, printFields, printJson, printTable, UsageError } from '../output';

/** Items per `POST /v1/requests`: the server's default MAX_REQUESTS_PER_CALL. */
const ITEMS_PER_CALL = 1000;

type QueueSettingOptions = {
  model?: string;
  endpoint?: string;
  requestKwargs?: Record<string, unknown>;
  threshold?: number;
  timeThreshold?: number;
  timeInterval?: number;
  window?: string;
  maxBatchSize?: number;
  webhook?: string;
};

type EnqueueAnswer = { status: 'success'; queue: string; request_ids: string[] };

/** Stream-to-batch queues (`/v1/queues`, `/v1/requests`, extensions): the server cuts batches from what is queued. */
export function registerQueueCommands(program: Command, globals: () => GlobalOptions): void {
  const queue = program.command('queue').description('stream-to-batch queues: requests queued one by one become batches by size and age');

  queue
    .command('create')
    .description("create a queue (unset settings follow the server's QUEUE_* defaults)")
    .argument('<name>', 'queue name')
    .addOption(new Option('--model <model>', 'model of its batches'))
    .addOption(new Option('--endpoint <endpoint>', 'endpoint of its batches (default /v1/chat/completions)'))
    .addOption(new Option('--request-kwargs <json>', 'merged into every partial request, e.g. \'{"max_tokens": 100}\'').argParser(jsonObject))
    .addOption(new Option('--threshold <n>', 'dispatch once this many requests are queued (queue_threshold)').argParser(positiveInt))
    .addOption(new Option('--time-threshold <seconds>', 'dispatch once the oldest request has waited this long').argParser(seconds))
    .addOption(new Option('--time-interval <seconds>', 'seconds between checks of the time threshold').argParser(seconds))
    .addOption(new Option('--window <window>', 'completion window of its batches'))
    .addOption(new Option('--max-batch-size <n>', 'most requests in one batch').argParser(positiveInt))
    .addOption(new Option('--webhook <url>', "POST its batches' events to this URL"))
    .action(async (name: string, options: QueueSettingOptions) => {
      const g = globals();
      const created = await apiClient(g).post<QueueObject>('/queues', { body: { name, ...settingsBody(options) } });
      if (g.json) printJson(created);
      else printQueue(created);
    });

  queue
    .command('list')
    .description("the tenant's queues")
    .action(async () => {
      const g = globals();
      const { data } = await apiClient(g).get<{ data: QueueObject[] }>('/queues');
      if (g.json) return printJson(data);
      printTable(
        ['NAME', 'MODEL', 'PENDING', 'THRESHOLD', 'TIME THRESHOLD', 'DISPATCHED', 'IN FLIGHT'],
        data.map((q) => [
          q.name,
          q.model ?? '',
          String(q.pending_requests),
          String(q.queue_threshold),
          `${q.time_threshold}s`,
          String(q.batches_dispatched),
          String(q.batches_in_flight),
        ]),
      );
    });

  queue
    .command('get')
    .description('a queue: its settings and state')
    .argument('<name>', 'queue name')
    .action(async (name: string) => {
      const g = globals();
      const found = await apiClient(g).get<QueueObject>(`/queues/${encodeURIComponent(name)}`);
      if (g.json) printJson(found);
      else printQueue(found);
    });

  queue
    .command('delete')
    .description('delete an empty queue (deleting `default` resets its settings)')
    .argument('<name>', 'queue name')
    .action(async (name: string) => {
      const g = globals();
      const deleted = await apiClient(g).delete<{ id: string }>(`/queues/${encodeURIComponent(name)}`);
      if (g.json) printJson(deleted);
      else console.log(`deleted queue ${deleted.id}`);
    });

  queue
    .command('enqueue')
    .description('queue the requests of a JSONL file, one item a line: a message list, a prompt string, a partial body, or {custom_id?, body}; prints their IDs')
    .argument('<file>', 'JSONL file of items')
    .option('--queue <name>', 'target queue', 'default')
    .action(async (file: string, options: { queue: string }) => {
      const g = globals();
      const answer = await enqueueFile(apiClient(g), file, options.queue);
      if (g.json) printJson(answer);
      else {
        for (const id of answer.request_ids) console.log(id);
        console.error(`queued ${answer.request_ids.length} requests in ${answer.queue}`);
      }
    });

  queue
    .command('request')
    .description('a queued request: its status, batch and, once finished, its response or error')
    .argument('<id>', 'request ID')
    .action(async (id: string) => {
      const g = globals();
      const request = await apiClient(g).get<QueuedRequestObject>(`/requests/${encodeURIComponent(id)}`);
      if (g.json) return printJson(request);
      printFields(request.id, [
        ['status', request.status],
        ['queue', request.queue],
        ['custom_id', request.custom_id],
        ['batch', request.batch_id ?? '-'],
        ['queued', isoTime(request.created_at)],
        ['finished', isoTime(request.finished_at)],
        ['response', request.response ? JSON.stringify(request.response.body) : '-'],
        ['error', request.error ? `${request.error.code}: ${request.error.message}` : '-'],
      ]);
    });
}

/** The API's field names for the options given; absent ones are left to the server's defaults. */
function settingsBody(o: QueueSettingOptions): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model: o.model,
    endpoint: o.endpoint,
    request_kwargs: o.requestKwargs,
    queue_threshold: o.threshold,
    time_threshold: o.timeThreshold,
    time_interval: o.timeInterval,
    completion_window: o.window,
    max_batch_size: o.maxBatchSize,
    webhook: o.webhook === undefined ? undefined : { url: o.webhook },
  };
  return Object.fromEntries(Object.entries(body).filter(([, value]) => value !== undefined));
}

/**
 * Sends the file's items ITEMS_PER_CALL at a time, streaming it. Each call is all or nothing on the
 * server; a refused call stops here, and what earlier calls queued stays queued (said on stderr).
 */
async function enqueueFile(client: OpenAI, file: string, queue: string): Promise<EnqueueAnswer> {
  if (!fs.existsSync(file)) throw new UsageError(`cannot read ${file}: no such file`);
  const ids: string[] = [];
  let items: unknown[] = [];
  const send = async () => {
    try {
      const answer = await client.post<EnqueueAnswer>('/requests', { body: { queue, data: items } });
      ids.push(...answer.request_ids);
      items = [];
    } catch (err) {
      if (ids.length > 0) console.error(`${ids.length} requests of ${file} were queued before this call failed`);
      throw err;
    }
  };
  let lineNumber = 0;
  for await (const line of readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity })) {
    lineNumber++;
    if (line.trim() === '') continue;
    try {
      items.push(JSON.parse(line));
    } catch {
      throw new UsageError(`${file}:${lineNumber} is not JSON`);
    }
    if (items.length === ITEMS_PER_CALL) await send();
  }
  if (items.length > 0) await send();
  if (ids.length === 0) throw new UsageError(`${file} holds no request`);
  return { status: 'success', queue, request_ids: ids };
}

function printQueue(q: QueueObject): void {
  printFields(q.name, [
    ['model', q.model ?? '-'],
    ['endpoint', q.endpoint],
    ['pending requests', String(q.pending_requests)],
    ['oldest pending', isoTime(q.oldest_pending_at) || '-'],
    ['queue threshold', String(q.queue_threshold)],
    ['time threshold', `${q.time_threshold}s (checked every ${q.time_interval}s)`],
    ['max batch size', String(q.max_batch_size)],
    ['completion window', q.completion_window],
    ['batches', `${q.batches_dispatched} dispatched, ${q.batches_in_flight} in flight`],
    ['webhook', q.webhook?.url ?? '-'],
  ]);
}
