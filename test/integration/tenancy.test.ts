import crypto from 'node:crypto';
import type OpenAI from 'openai';
import pg from 'pg';
import { createScratchDatabase, expectApiError, keysCli, unique } from '../support/api';
import { chatLine, TERMINAL, uploadJsonl, waitForBatch } from '../support/batches';
import { OPERATIONS } from '../../src/api/operations';
import { checkAnswer, pathParams, pathWith } from '../support/operations';
import { startServiceUnderTest, type ServiceUnderTest } from '../support/serviceUnderTest';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhookReceiver';

const MODEL = 'sim-llama-3.1-8b-instruct';

/**
 * Stored API keys change how every service on a database authenticates, so each part of this file
 * runs on a scratch database of its own, never on the one other test files share.
 */
describe('tenant isolation with static and CLI-managed keys', () => {
  const stack = testStack();
  const acmeKey = unique('sk-acme');
  const globexKey = unique('sk-globex');
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
  let sut: ServiceUnderTest;
  let acme: OpenAI;
  let globex: OpenAI;
  let receiver: WebhookReceiver;
  const as = (key: string) => sut.clientAs(key);

  beforeAll(async () => {
    scratch = await createScratchDatabase(stack);
    receiver = await startWebhookReceiver(() => 200);
    sut = await startServiceUnderTest({ env: { DATABASE_URL: scratch.url, API_KEYS: `${acmeKey}:acme,${globexKey}:globex`, WEBHOOK_ALLOW_PRIVATE: 'true' } });
    acme = as(acmeKey);
    globex = as(globexKey);
  });

  afterAll(async () => {
    expect(await sut?.stop()).toBe(0);
    await scratch?.drop();
    await receiver?.close();
  });

  test("another tenant's files and batches are 404 everywhere, and absent from its lists", async () => {
    const input = await uploadJsonl(acme, [chatLine('a', MODEL, 'hi')]);
    const created = await acme.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const batch = await waitForBatch(acme, created.id, (b) => TERMINAL.includes(b.status), 60_000);
    expect(batch.status).toBe('completed');
    const globexFile = await uploadJsonl(globex, [chatLine('g', MODEL, 'hi')]);

    const notFound = { status: 404, type: 'invalid_request_error', code: 'not_found' };
    for (const fileId of [input.id, batch.output_file_id!]) {
      await expect(globex.files.retrieve(fileId)).rejects.toMatchObject(notFound);
      await expect(globex.files.content(fileId)).rejects.toMatchObject(notFound);
      await expect(globex.files.delete(fileId)).rejects.toMatchObject(notFound);
    }
    await expect(globex.batches.retrieve(batch.id)).rejects.toMatchObject(notFound);
    await expect(globex.batches.cancel(batch.id)).rejects.toMatchObject({ status: 404 });
    await expect(globex.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' })).rejects.toMatchObject({
      status: 400,
      code: 'invalid_input_file',
      param: 'input_file_id',
    });

    const globexFiles: string[] = [];
    for await (const f of globex.files.list({ limit: 1 })) globexFiles.push(f.id);
    expect(globexFiles).toEqual([globexFile.id]);
    expect((await globex.batches.list()).data).toEqual([]);
    // A cursor naming another tenant's object reveals nothing about where it sits.
    await expect(globex.files.list({ after: input.id })).rejects.toMatchObject({ status: 400, param: 'after' });
    await expect(globex.batches.list({ after: batch.id })).rejects.toMatchObject({ status: 400, param: 'after' });

    // The owner still has everything the other tenant tried to touch.
    expect((await acme.files.retrieve(input.id)).id).toBe(input.id);
    expect((await acme.batches.list()).data.map((b) => b.id)).toEqual([batch.id]);
  });

  test('keys created with the CLI work at once, are stored hashed, and stop working the moment they are revoked', async () => {
    const acmeStored = (await keysCli(scratch.url, 'create', '--tenant', 'acme', '--name', 'ci')).stdout.trim();
    const initechRun = await keysCli(scratch.url, 'create', '--tenant', 'initech');
    const initechKey = initechRun.stdout.trim();
    expect(initechKey).toMatch(/^sk-vbs-[A-Za-z0-9_-]{43}$/);
    expect(initechRun.stderr).toContain('shown only now');

    // A stored key of an existing tenant sees that tenant's objects; a new tenant starts empty.
    expect((await as(acmeStored).batches.list()).data).toHaveLength(1);
    expect((await as(initechKey).files.list()).data).toEqual([]);

    const listing = (await keysCli(scratch.url, 'list')).stdout;
    expect(listing).toMatch(/key_[0-9a-f]{16}\s+initech\s+tenant\s+sk-vbs-/);
    expect(listing).not.toContain(initechKey);

    const db = new pg.Client({ connectionString: scratch.url });
    await db.connect();
    try {
      const { rows } = await db.query<{ id: string; key_hash: string; row: string }>(
        `SELECT id, key_hash, row_to_json(api_keys)::text AS row FROM api_keys WHERE tenant_id = 'initech'`,
      );
      expect(rows).toHaveLength(1);
      expect(rows[0]!.key_hash).toBe(crypto.createHash('sha256').update(initechKey).digest('hex'));
      expect(rows[0]!.row).not.toContain(initechKey);

      expect((await keysCli(scratch.url, 'revoke', rows[0]!.id)).stdout).toContain(`revoked ${rows[0]!.id}`);
      await expect(as(initechKey).files.list()).rejects.toMatchObject({ status: 401, code: 'invalid_api_key' });
      await expect(keysCli(scratch.url, 'revoke', rows[0]!.id)).rejects.toMatchObject({ code: 2 });
    } finally {
      await db.end();
    }
    // Static keys and the other stored key are unaffected.
    expect((await as(acmeStored).files.list()).data.length).toBeGreaterThan(0);
    expect((await globex.files.list()).data).toHaveLength(1);
  });

  test("every operation of the table that takes an id answers another tenant's id with 404, changing nothing; every operation needs a key", async () => {
    const call = (key: string | null, method: string, path: string, json: boolean) =>
      fetch(`${sut.service.apiUrl.replace(/\/v1$/, '')}${path}`, {
        method: method.toUpperCase(),
        headers: { ...(key === null ? {} : { authorization: `Bearer ${key}` }), ...(json ? { 'content-type': 'application/json' } : {}) },
        body: json ? '{}' : undefined,
      });
    const acmeApi = (method: string, path: string, body?: unknown) =>
      fetch(`${sut.service.apiUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${acmeKey}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));

    // Acme owns one of everything an operation can name: a finished batch with a failed line, a delivered webhook, a queue holding a request.
    const input = await uploadJsonl(acme, [chatLine('ok', MODEL, 'hi'), chatLine('bad', MODEL, '[[sim:400]]')]);
    const created = await acmeApi('POST', '/batches', { input_file_id: input.id, webhook: { url: receiver.url('/acme') } });
    const batch = await waitForBatch(acme, created.body.id as string, (b) => TERMINAL.includes(b.status), 60_000);
    const delivery = await waitFor(
      async () =>
        ((await acmeApi('GET', `/batches/${batch.id}/webhook_deliveries`)).body.data as Array<{ id: string; status: string }>).find((d) => d.status === 'delivered'),
      { timeoutMs: 60_000, what: "acme's webhook delivered" },
    );
    expect((await acmeApi('POST', '/queues', { name: 'acme-q', model: MODEL, queue_threshold: 1000, time_threshold: 3600 })).status).toBe(200);
    const [requestId] = (await acmeApi('POST', '/requests?queue=acme-q', { data: ['hello'] })).body.request_ids as string[];
    const ids: Record<string, string> = { file_id: input.id, batch_id: batch.id, delivery_id: delivery.id, queue: 'acme-q', request_id: requestId! };
    const batchesBefore = (await acme.batches.list()).data.map((b) => b.id);

    const withIds = OPERATIONS.filter((op) => pathParams(op).length > 0);
    expect(withIds.length).toBeGreaterThanOrEqual(12);
    for (const op of withIds) {
      const response = await call(globexKey, op.method, pathWith(op, ids), op.body?.['application/json'] !== undefined);
      const body: unknown = await response.json();
      expect({ operation: op.operationId, status: response.status, body }).toMatchObject({
        status: 404,
        body: { error: { type: 'invalid_request_error', code: 'not_found' } },
      });
      checkAnswer(op, response.status, body);
    }
    for (const op of OPERATIONS) {
      const response = await call(null, op.method, pathWith(op, ids), false);
      expect({ operation: op.operationId, status: response.status }).toEqual({ operation: op.operationId, status: 401 });
    }

    // Nothing of acme's moved: not cancelled, retried, deleted, replayed or emptied.
    expect((await acme.batches.retrieve(batch.id)).status).toBe(batch.status);
    expect((await acme.batches.list()).data.map((b) => b.id)).toEqual(batchesBefore);
    expect((await acme.files.retrieve(input.id)).id).toBe(input.id);
    expect((await acmeApi('GET', `/batches/${batch.id}/webhook_deliveries`)).body.data).toContainEqual(expect.objectContaining({ id: delivery.id, status: 'delivered' }));
    expect((await acmeApi('GET', '/queues/acme-q')).body).toMatchObject({ name: 'acme-q', queue_threshold: 1000 });
    expect((await acmeApi('GET', `/requests/${requestId}`)).body).toMatchObject({ status: 'queued' });
  });
});

describe('open mode', () => {
  const stack = testStack();
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
  let sut: ServiceUnderTest;

  beforeAll(async () => {
    scratch = await createScratchDatabase(stack);
    sut = await startServiceUnderTest({ env: { DATABASE_URL: scratch.url }, entry: 'api' });
  });

  afterAll(async () => {
    expect(await sut?.stop()).toBe(0);
    await scratch?.drop();
  });

  test('without any key it is open and says so; the first CLI key closes it, and revoking that key does not reopen it', async () => {
    expect(sut.service.output()).toContain('the API is open');
    const files = (headers: Record<string, string> = {}) => fetch(`${sut.service.apiUrl}/files`, { headers });
    expect((await files()).status).toBe(200);
    expect((await files({ authorization: 'Bearer anything' })).status).toBe(200);

    const key = (await keysCli(scratch.url, 'create', '--tenant', 'first')).stdout.trim();
    await expectApiError(await files(), { status: 401, type: 'authentication_error', code: 'missing_api_key', param: null });
    expect((await files({ authorization: `Bearer ${key}` })).status).toBe(200);

    const keyId = /^(key_\w+)\s/m.exec((await keysCli(scratch.url, 'list')).stdout)![1]!;
    await keysCli(scratch.url, 'revoke', keyId);
    await expectApiError(await files({ authorization: `Bearer ${key}` }), { status: 401, type: 'authentication_error', code: 'invalid_api_key', param: null });
    await expectApiError(await files(), { status: 401, type: 'authentication_error', code: 'missing_api_key', param: null });
  });

  test('the CLI refuses a missing or malformed tenant and unknown commands with one line and exit code 2', async () => {
    await expect(keysCli(scratch.url, 'create')).rejects.toMatchObject({ code: 2, stderr: "vbs: required option '--tenant <tenant>' not specified\n" });
    await expect(keysCli(scratch.url, 'create', '--tenant', 'no spaces')).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('--tenant must be') });
    await expect(keysCli(scratch.url, 'rotate')).rejects.toMatchObject({ code: 2, stderr: expect.stringMatching(/^vbs: unknown command 'rotate'.*\n$/) });
  });
});
