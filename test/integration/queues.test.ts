import { Client, Connection } from '@temporalio/client';
import { queueStateQuery, queueWorkflowId } from '../../src/temporal/definitions';
import { jsonApi, unique } from '../support/api';
import { readJsonl, TERMINAL, waitForBatch } from '../support/batches';
import { startServiceUnderTest, type ServiceUnderTest } from '../support/serviceUnderTest';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';

const MODEL = 'sim-llama-3.1-8b-instruct';
const MAX_QUEUED = 300;
/** As many as a tenant may have queued: one call can fill a tenant's room, never more. */
const MAX_PER_CALL = MAX_QUEUED;
const MAX_CALL_BYTES = 64 * 1024;

type RequestObject = {
  id: string;
  status: string;
  queue: string;
  custom_id: string;
  batch_id: string | null;
  created_at: number;
  dispatched_at: number | null;
  response: { status_code: number; request_id: string; body: { choices?: unknown[]; usage?: unknown } } | null;
  error: { code: string; message: string } | null;
};

/** Stream-to-batch on the real stack: requests enqueued over HTTP, dispatched by the queue's workflow, run as batches. */
describe('stream-to-batch queues', () => {
  const acmeKey = unique('sk-acme');
  const globexKey = unique('sk-globex');
  const initechKey = unique('sk-initech');
  const umbrellaKey = unique('sk-umbrella');
  const tenants = { acme: unique('acme'), globex: unique('globex'), initech: unique('initech'), umbrella: unique('umbrella') };
  let sut: ServiceUnderTest;

  beforeAll(async () => {
    sut = await startServiceUnderTest({
      env: {
        API_KEYS: [`${acmeKey}:${tenants.acme}`, `${globexKey}:${tenants.globex}`, `${initechKey}:${tenants.initech}`, `${umbrellaKey}:${tenants.umbrella}`].join(','),
        QUEUE_MODEL: MODEL,
        QUEUE_TIME_THRESHOLD_SECONDS: '2',
        QUEUE_TIME_INTERVAL_SECONDS: '0.5',
        MAX_QUEUED_REQUESTS_PER_TENANT: String(MAX_QUEUED),
        MAX_REQUESTS_PER_CALL: String(MAX_PER_CALL),
        MAX_ENQUEUE_BYTES: String(MAX_CALL_BYTES),
      },
    });
  });
  afterAll(async () => {
    expect(await sut?.stop()).toBe(0);
  });

  test('a queue whose model no GPU worker serves accepts requests and holds them, saying why', async () => {
    expect((await call(acmeKey, 'POST', '/queues', { name: 'unserved', model: 'no-such-model', time_threshold: 0, time_interval: 0.2 })).status).toBe(200);
    const ids = (await call(acmeKey, 'POST', '/requests', { queue: 'unserved', data: ['waits'] })).body.request_ids as string[];
    const temporal = new Client({ connection: await Connection.connect({ address: testStack().temporalAddress }) });
    try {
      // Due at once (time_threshold 0), yet held: the dispatcher's state says it waits for the model.
      const handle = temporal.workflow.getHandle(queueWorkflowId(tenants.acme, 'unserved'));
      const state = await waitFor(
        async () => {
          const current = await handle.query(queueStateQuery).catch(() => undefined);
          // It checks again every 0.2 s (time_interval), holding: read it between two checks.
          return current?.holdReason === 'model_not_served' && current.phase === 'waiting' && current;
        },
        { timeoutMs: 20_000, what: 'the dispatcher to hold for the model' },
      );
      expect(state).toMatchObject({ phase: 'waiting', queued: 1, batchesDispatched: 0 });
    } finally {
      await temporal.connection.close();
    }
    expect(await request(acmeKey, ids[0]!)).toMatchObject({ status: 'queued', batch_id: null });
    expect((await call(acmeKey, 'GET', '/queues/unserved')).body).toMatchObject({ pending_requests: 1, batches_dispatched: 0, model: 'no-such-model' });
    expect((await call(acmeKey, 'POST', `/requests/${ids[0]}/cancel`, {})).body).toMatchObject({ status: 'cancelled' });
  });

  const call = (key: string, method: string, route: string, body?: unknown) => jsonApi(sut.service.apiUrl, key)(method, route, body);
  const request = async (key: string, id: string) => (await call(key, 'GET', `/requests/${id}`)).body as unknown as RequestObject;
  const untilFinished = (key: string, ids: string[], timeoutMs = 90_000) =>
    waitFor(
      async () => {
        const all = await Promise.all(ids.map((id) => request(key, id)));
        return all.every((r) => !['queued', 'dispatched'].includes(r.status)) && all;
      },
      { timeoutMs, intervalMs: 250, what: `${ids.length} requests to finish` },
    );

  test("the seed's curl payload is dispatched by the time threshold, and each result is retrievable by request id", async () => {
    // Exactly the seed's example: langbatch's partial requests, two message lists, no model given.
    const seed = { data: [[{ role: 'user', content: 'Hello, how are you?' }], [{ role: 'user', content: 'What is the capital of France?' }]] };
    const posted = await call(acmeKey, 'POST', '/requests', seed);
    expect(posted.status).toBe(200);
    expect(posted.body).toMatchObject({ status: 'success', queue: 'default' });
    const ids = posted.body.request_ids as string[];
    expect(ids).toHaveLength(2);
    expect(ids.every((id) => id.startsWith('req_'))).toBe(true);
    expect((await request(acmeKey, ids[0]!)).status).toMatch(/^(queued|dispatched)$/);

    const finished = await untilFinished(acmeKey, ids);
    for (const r of finished) {
      expect(r.status).toBe('completed');
      expect(r.custom_id).toBe(r.id);
      expect(r.response!.status_code).toBe(200);
      expect(r.response!.body.choices).toHaveLength(1);
      expect(r.error).toBeNull();
      // Below the size threshold: only the time threshold (2 s) could have dispatched them.
      expect(r.dispatched_at! - r.created_at).toBeGreaterThanOrEqual(1);
    }
    expect(finished[0]!.batch_id).toBe(finished[1]!.batch_id);

    // The batch is an ordinary batch: the SDK reads it, and its output lines are the requests' results.
    // A request reads as completed once its result is stored; its batch ends a moment later.
    const client = sut.clientAs(acmeKey);
    const batch = await waitForBatch(client, finished[0]!.batch_id!, (b) => TERMINAL.includes(b.status));
    expect(batch).toMatchObject({ status: 'completed', metadata: { queue: 'default' }, request_counts: { total: 2, completed: 2, failed: 0 } });
    const output = await readJsonl(client, batch.output_file_id);
    expect(output.map((line) => line.custom_id)).toEqual(ids);
    for (const [i, line] of output.entries()) expect(line.response).toEqual(finished[i]!.response);

    // Deleting the batch's files leaves each request's result where it was.
    await client.files.delete(batch.output_file_id!);
    expect((await request(acmeKey, ids[0]!)).response).toEqual(finished[0]!.response);
  });

  test('size threshold 100: 250 requests posted one by one make two batches of 100 at once and one of 50 after the time threshold', async () => {
    const created = await call(acmeKey, 'POST', '/queues', { name: 'sized', queue_threshold: 100, time_threshold: 4, time_interval: 0.5 });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ object: 'queue', name: 'sized', queue_threshold: 100, max_batch_size: 100, model: MODEL });

    const ids: string[] = [];
    for (let i = 0; i < 250; i++) {
      const posted = await call(acmeKey, 'POST', '/requests?queue=sized', { custom_id: `line-${i}`, body: { messages: [{ role: 'user', content: `q${i}` }] } });
      expect(posted.status).toBe(200);
      ids.push(...(posted.body.request_ids as string[]));
    }
    const lastPostedAt = Date.now() / 1000;
    const finished = await untilFinished(acmeKey, ids, 120_000);
    expect(finished.every((r) => r.status === 'completed')).toBe(true);

    const batches = new Map<string, RequestObject[]>();
    for (const r of finished) batches.set(r.batch_id!, [...(batches.get(r.batch_id!) ?? []), r]);
    const sizes = [...batches.values()].map((rs) => rs.length);
    expect(sizes).toEqual([100, 100, 50]);
    const [first, second, third] = [...batches.values()];
    // The full batches took the oldest requests, in order, as soon as they were there.
    expect(first!.map((r) => r.custom_id)).toEqual(Array.from({ length: 100 }, (_, i) => `line-${i}`));
    expect(second!.map((r) => r.custom_id)).toEqual(Array.from({ length: 100 }, (_, i) => `line-${100 + i}`));
    expect(Math.max(...first!.map((r) => r.dispatched_at!), ...second!.map((r) => r.dispatched_at!))).toBeLessThanOrEqual(Math.ceil(lastPostedAt));
    // The rest waited for the time threshold: 4 s after its oldest request.
    expect(third![0]!.dispatched_at! - third![0]!.created_at).toBeGreaterThanOrEqual(3);

    const queue = (await call(acmeKey, 'GET', '/queues/sized')).body;
    expect(queue).toMatchObject({ pending_requests: 0, batches_dispatched: 3 });
  });

  test("two tenants' queues of the same name never see each other's requests", async () => {
    for (const key of [acmeKey, globexKey]) {
      expect((await call(key, 'POST', '/queues', { name: 'shared', queue_threshold: 1000, time_threshold: 3600 })).status).toBe(200);
    }
    const acmeIds = (await call(acmeKey, 'POST', '/requests', { queue: 'shared', data: ['a1', 'a2'] })).body.request_ids as string[];
    const globexIds = (await call(globexKey, 'POST', '/requests', { queue: 'shared', data: 'g1' })).body.request_ids as string[];
    expect(globexIds).toHaveLength(1);

    expect((await call(globexKey, 'GET', `/requests/${acmeIds[0]}`)).status).toBe(404);
    expect((await call(globexKey, 'POST', `/requests/${acmeIds[0]}/cancel`, {})).status).toBe(404);
    const globexList = (await call(globexKey, 'GET', '/requests?queue=shared')).body.data as RequestObject[];
    expect(globexList.map((r) => r.id)).toEqual(globexIds);
    expect((await call(acmeKey, 'GET', '/queues/shared')).body).toMatchObject({ pending_requests: 2 });
    expect((await call(globexKey, 'GET', '/queues/shared')).body).toMatchObject({ pending_requests: 1 });

    // Cancelling a queued request takes it out; a queue with requests cannot be deleted, an empty one can.
    expect((await call(acmeKey, 'DELETE', '/queues/shared')).status).toBe(409);
    for (const id of acmeIds) expect((await call(acmeKey, 'POST', `/requests/${id}/cancel`, {})).body).toMatchObject({ id, status: 'cancelled' });
    expect((await call(acmeKey, 'GET', '/queues/shared')).body).toMatchObject({ pending_requests: 0 });
    expect((await call(acmeKey, 'DELETE', '/queues/shared')).body).toEqual({ id: 'shared', object: 'queue.deleted', deleted: true });
    expect((await call(acmeKey, 'GET', '/queues/shared')).status).toBe(404);
    expect((await call(globexKey, 'GET', '/queues/shared')).body).toMatchObject({ pending_requests: 1 });
  });

  test('a bad item refuses the whole call, naming its index, and queues nothing', async () => {
    const before = (await call(globexKey, 'GET', '/queues/default')).body.pending_requests;
    const refused = await call(globexKey, 'POST', '/requests', { data: [[{ role: 'user', content: 'ok' }], { body: { messages: [], stream: true } }] });
    expect(refused).toMatchObject({ status: 400, body: { error: { type: 'invalid_request_error', code: 'invalid_body', param: 'data[1].body.stream' } } });
    const duplicated = await call(globexKey, 'POST', '/requests', {
      data: [
        { custom_id: 'x', body: { messages: [] } },
        { custom_id: 'x', body: { messages: [] } },
      ],
    });
    expect(duplicated).toMatchObject({ status: 400, body: { error: { code: 'duplicate_custom_id', param: 'data[1].custom_id' } } });
    expect((await call(globexKey, 'GET', '/queues/default')).body.pending_requests).toBe(before);
  });

  test('429 with Retry-After at the per-tenant cap, and a producer that backs off gets through', async () => {
    const created = await call(globexKey, 'POST', '/queues', { name: 'capped', queue_threshold: 100_000, time_threshold: 3600, time_interval: 0.5, max_batch_size: 500 });
    expect(created.status).toBe(200);
    const pending = (await call(globexKey, 'GET', '/queues')).body.data as Array<{ pending_requests: number }>;
    const room = MAX_QUEUED - pending.reduce((sum, q) => sum + q.pending_requests, 0);
    const filled = await call(globexKey, 'POST', '/requests?queue=capped', { data: Array.from({ length: room }, (_, i) => `fill ${i}`) });
    expect(filled.status).toBe(200);

    const refused = await call(globexKey, 'POST', '/requests?queue=capped', { data: ['one more'] });
    expect(refused).toMatchObject({ status: 429, body: { error: { type: 'rate_limit_error', code: 'queue_full' } } });
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);

    // The queue drains once its threshold is lowered; the producer retries as told and succeeds.
    expect((await call(globexKey, 'POST', '/queues/capped', { queue_threshold: 50 })).body).toMatchObject({ queue_threshold: 50 });
    const accepted = await waitFor(
      async () => {
        const posted = await call(globexKey, 'POST', '/requests?queue=capped', { data: ['one more'] });
        if (posted.status === 429) await new Promise((resolve) => setTimeout(resolve, Number(posted.headers.get('retry-after')) * 1000));
        return posted.status === 200 && posted;
      },
      { timeoutMs: 60_000, intervalMs: 10, what: 'the capped queue to accept again' },
    );
    expect(accepted.body.request_ids).toHaveLength(1);
  });

  test('MAX_REQUESTS_PER_CALL: a call of that many items is accepted, one more is a 400 too_many_requests that queues nothing', async () => {
    const created = await call(initechKey, 'POST', '/queues', { name: 'counted', queue_threshold: MAX_PER_CALL, time_threshold: 3600 });
    expect(created.status).toBe(200);
    const items = (n: number) => Array.from({ length: n }, (_, i) => `item ${i}`);
    const over = await call(initechKey, 'POST', '/requests?queue=counted', { data: items(MAX_PER_CALL + 1) });
    expect(over).toMatchObject({ status: 400, body: { error: { type: 'invalid_request_error', code: 'too_many_requests', param: 'data' } } });
    expect((over.body.error as { message: string }).message).toContain(String(MAX_PER_CALL));
    expect((await call(initechKey, 'GET', '/queues/counted')).body).toMatchObject({ pending_requests: 0 });
    // At the limit: accepted, and dispatched at once as one batch (the queue's threshold).
    const at = await call(initechKey, 'POST', '/requests?queue=counted', { data: items(MAX_PER_CALL) });
    expect(at.status).toBe(200);
    expect(at.body.request_ids).toHaveLength(MAX_PER_CALL);
  });

  test('MAX_ENQUEUE_BYTES: a body of exactly that many bytes is accepted, one byte more is a 413 request_too_large', async () => {
    /** A one-request body of exactly `bytes` bytes of UTF-8, its prompt padded with 'é' (two bytes) and one 'x' if odd. */
    const bodyOf = (bytes: number) => {
      const frame = (prompt: string) => JSON.stringify({ data: [prompt] });
      const room = bytes - Buffer.byteLength(frame(''));
      const text = frame('é'.repeat(Math.floor(room / 2)) + 'x'.repeat(room % 2));
      expect(Buffer.byteLength(text)).toBe(bytes);
      return text;
    };
    const post = (text: string) =>
      fetch(`${sut.service.apiUrl}/requests`, { method: 'POST', headers: { Authorization: `Bearer ${umbrellaKey}`, 'Content-Type': 'application/json' }, body: text });

    const over = await post(bodyOf(MAX_CALL_BYTES + 1));
    expect(over.status).toBe(413);
    expect(await over.json()).toMatchObject({ error: { type: 'invalid_request_error', code: 'request_too_large' } });
    expect((await call(umbrellaKey, 'GET', '/queues/default')).body).toMatchObject({ pending_requests: 0 });
    const at = await post(bodyOf(MAX_CALL_BYTES));
    expect(at.status).toBe(200);
    expect(((await at.json()) as { request_ids: string[] }).request_ids).toHaveLength(1);
  });
});
