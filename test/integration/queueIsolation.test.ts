import { jsonApi, unique } from '../support/api';
import { startServiceUnderTest, type ServiceUnderTest } from '../support/serviceUnderTest';
import { waitFor } from '../support/wait';

const MODEL = 'sim-llama-3.1-8b-instruct';
const LINE_LIMIT = 8 * 1024 * 1024;

type RequestObject = { id: string; status: string; batch_id: string | null; finished_at: number | null; error: { code: string; message: string } | null };

/**
 * Issue 24: a queued request is a line of a future batch, validated and stored as that line, and
 * what changes after it was accepted (settings, served models) never fails or holds its neighbours.
 */
describe('stream-to-batch: one request never fails or stalls the requests queued beside it', () => {
  const key = unique('sk-iso');
  let sut: ServiceUnderTest;

  beforeAll(async () => {
    sut = await startServiceUnderTest({
      env: {
        API_KEYS: `${key}:${unique('iso')}`,
        QUEUE_MODEL: MODEL,
        QUEUE_TIME_THRESHOLD_SECONDS: '1',
        QUEUE_TIME_INTERVAL_SECONDS: '0.3',
        MAX_QUEUED_REQUESTS_PER_TENANT: '50',
      },
    });
  });
  afterAll(async () => {
    expect(await sut?.stop()).toBe(0);
  });

  const call = (method: string, route: string, body?: unknown) => jsonApi(sut.service.apiUrl, key)(method, route, body);
  /** A call whose JSON body is sent exactly as written (big integers, duplicate keys, spacing). */
  const raw = async (method: string, route: string, text: string) => {
    const response = await fetch(`${sut.service.apiUrl}${route}`, {
      method,
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
      body: text,
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const request = async (id: string) => (await call('GET', `/requests/${id}`)).body as unknown as RequestObject;
  const untilEnded = (ids: string[], timeoutMs = 60_000) =>
    waitFor(
      async () => {
        const all = await Promise.all(ids.map(request));
        return all.every((r) => !['queued', 'dispatched'].includes(r.status)) && all;
      },
      { timeoutMs, intervalMs: 250, what: `${ids.length} requests to end` },
    );
  /** The line of `id` in its batch's input file, as stored. */
  const inputLine = async (id: string) => {
    const { batch_id: batchId } = await request(id);
    const batch = (await call('GET', `/batches/${batchId}`)).body as { input_file_id: string };
    const content = await fetch(`${sut.service.apiUrl}/files/${batch.input_file_id}/content`, { headers: { Authorization: `Bearer ${key}` } });
    const customId = (await call('GET', `/requests/${id}`)).body.custom_id as string;
    return (await content.text()).split('\n').find((line) => line.includes(`"custom_id":${JSON.stringify(customId)}`))!;
  };

  test('a request for a model no worker serves holds only its own (model, endpoint) group, then expires alone after its window', async () => {
    expect((await call('POST', '/queues', { name: 'typo', time_threshold: 0, time_interval: 0.2, completion_window: '4s' })).status).toBe(200);
    const typo = await call('POST', '/requests', { queue: 'typo', custom_id: 'typo', body: { model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] } });
    expect(typo.status).toBe(200);
    const valid = await call('POST', '/requests', { queue: 'typo', data: ['one', 'two'] });
    const validIds = valid.body.request_ids as string[];
    const ended = await untilEnded(validIds, 30_000);
    expect(ended.map((r) => r.status)).toEqual(['completed', 'completed']);
    const [typoId] = typo.body.request_ids as string[];
    const expired = await waitFor(async () => (await request(typoId!)).status === 'expired' && request(typoId!), { timeoutMs: 30_000, what: 'the typo to expire' });
    expect(expired).toMatchObject({ batch_id: null, error: { code: 'model_not_found' } });
    expect(expired.finished_at).toEqual(expect.any(Number));
    expect((await call('GET', '/queues/typo')).body).toMatchObject({ pending_requests: 0 });
    const cancel = await call('POST', `/requests/${typoId}/cancel`, {});
    expect(cancel).toMatchObject({ status: 409, body: { error: { code: 'request_not_cancellable', message: expect.stringContaining('has ended expired') } } });
  });

  test("changing a queue's endpoint and request_kwargs fails none of the requests already queued", async () => {
    expect(
      (await call('POST', '/queues', { name: 'reshaped', queue_threshold: 1000, time_threshold: 2, time_interval: 0.3, request_kwargs: { max_tokens: 3 } })).status,
    ).toBe(200);
    const chat = (await call('POST', '/requests', { queue: 'reshaped', data: ['chat one', 'chat two'] })).body.request_ids as string[];
    expect((await call('POST', '/queues/reshaped', { endpoint: '/v1/completions', request_kwargs: { max_tokens: 5, echo: false } })).status).toBe(200);
    const completions = (await call('POST', '/requests', { queue: 'reshaped', data: ['prompt one'] })).body.request_ids as string[];
    const ended = await untilEnded([...chat, ...completions]);
    expect(ended.map((r) => r.status)).toEqual(['completed', 'completed', 'completed']);
    // Each kept the shape of its moment: two batches, one per (model, endpoint).
    expect(ended[0]!.batch_id).toBe(ended[1]!.batch_id);
    expect(ended[2]!.batch_id).not.toBe(ended[0]!.batch_id);
    expect(await inputLine(chat[0]!)).toContain('"url":"/v1/chat/completions"');
    expect(await inputLine(chat[0]!)).toContain('"max_tokens":3');
    expect(await inputLine(completions[0]!)).toContain('"url":"/v1/completions"');
  });

  test('a settings change wakes the dispatcher at once, not at its next interval', async () => {
    expect((await call('POST', '/queues', { name: 'woken', queue_threshold: 1000, time_threshold: 3600, time_interval: 3600 })).status).toBe(200);
    const ids = (await call('POST', '/requests', { queue: 'woken', data: ['wake me'] })).body.request_ids as string[];
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await request(ids[0]!)).status).toBe('queued');
    expect((await call('POST', '/queues/woken', { queue_threshold: 1 })).status).toBe(200);
    await waitFor(async () => (await request(ids[0]!)).status !== 'queued', { timeoutMs: 15_000, what: 'the dispatch after the settings change' });
  });

  test('an item whose line would exceed the batch line limit is refused at enqueue, naming it', async () => {
    const content = 'x'.repeat(LINE_LIMIT - 60);
    const refused = await call('POST', '/requests', { data: [content] });
    expect(refused).toMatchObject({ status: 400, body: { error: { code: 'line_too_long', param: 'data[0]' } } });
  });

  test('bodies and request_kwargs are kept exactly as sent: big integers, nested nulls, spacing', async () => {
    const kwargs =
      '{"max_tokens": 4, "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": {"default": null, "big": 123456789012345678901234567890}}}}';
    expect((await raw('POST', '/queues', `{"name": "exact", "queue_threshold": 2, "time_threshold": 3600, "request_kwargs": ${kwargs}}`)).status).toBe(200);
    const queue = (await call('GET', '/queues/exact')).body as { request_kwargs: { response_format: { json_schema: { schema: Record<string, unknown> } } } };
    expect(queue.request_kwargs.response_format.json_schema.schema).toHaveProperty('default', null);
    const updated = await raw('POST', '/queues/exact', `{"request_kwargs": ${kwargs}}`);
    expect(updated.status).toBe(200);
    const full = '{"messages": [{"role": "user", "content": "hi"}], "seed": 12345678901234567890123, "logit_bias": {"1": null}}';
    const posted = await raw('POST', '/requests?queue=exact', `{"data": [{"custom_id": "full", "body": ${full}}, [{"role": "user", "content": "partial"}]]}`);
    expect(posted.status).toBe(200);
    const [fullId, partialId] = posted.body.request_ids as string[];
    await untilEnded([fullId!, partialId!]);
    expect(await inputLine(fullId!)).toContain(`"body":${full.slice(0, -1)},"model":"${MODEL}"}`);
    const partial = await inputLine(partialId!);
    expect(partial).toContain('"json_schema": {"name": "n", "schema": {"default": null, "big": 123456789012345678901234567890}}');
    expect(partial).toContain('"messages":[{"role": "user", "content": "partial"}]');
  });

  test('request_kwargs nested 5,000 deep is a 400 invalid_value on create and update, not a 5xx', async () => {
    const deep = '{"a":'.repeat(5000) + '1' + '}'.repeat(5000);
    const created = await raw('POST', '/queues', `{"name": "deep", "request_kwargs": ${deep}}`);
    expect(created).toMatchObject({ status: 400, body: { error: { code: 'invalid_value', param: 'request_kwargs' } } });
    const updated = await raw('POST', '/queues/default', `{"request_kwargs": ${deep}}`);
    expect(updated).toMatchObject({ status: 400, body: { error: { code: 'invalid_value', param: 'request_kwargs' } } });
  });

  test('results?after beyond a 32-bit line number is a 400 invalid_value, not a 500', async () => {
    const batches = (await call('GET', '/batches?limit=1')).body.data as Array<{ id: string }>;
    const id = batches[0]?.id ?? 'batch_missing';
    const response = await call('GET', `/batches/${id}/results?after=2147483648`);
    expect(response).toMatchObject({ status: 400, body: { error: { code: 'invalid_value', param: 'after' } } });
  });

  test('unknown fields are refused by name, on /v1/requests as on /v1/queues', async () => {
    const enqueued = await call('POST', '/requests', { queue_name: 'elsewhere', data: ['lost'] });
    expect(enqueued).toMatchObject({ status: 400, body: { error: { code: 'invalid_value', param: 'queue_name' } } });
    const created = await call('POST', '/queues', { name: 'typoed', treshold: 3 });
    expect(created).toMatchObject({ status: 400, body: { error: { code: 'invalid_value', param: 'treshold' } } });
  });

  test('queue_full states the limit and how many are queued', async () => {
    expect((await call('POST', '/queues', { name: 'full', queue_threshold: 1000, time_threshold: 3600 })).status).toBe(200);
    const refused = await call('POST', '/requests', { queue: 'full', data: Array.from({ length: 60 }, (_, i) => `r${i}`) });
    expect(refused.status).toBe(429);
    const message = (refused.body.error as { message: string }).message;
    expect(message).toContain('50');
    expect(message).toContain('60');
  });
});
