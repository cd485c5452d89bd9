import OpenAI, { toFile } from 'openai';
import pg from 'pg';
import { BatchObject } from '../../src/batches/object';
import { DeletedFileObject, FileObject } from '../../src/files/object';
import { OPERATIONS } from '../../src/api/operations';
import { BatchList, FileList, ModelList } from '../../src/api/schemas';
import { unique } from '../support/api';
import { coverageRecorder } from '../support/operations';
import { chatLine, readJsonl, TERMINAL, uploadJsonl, waitForBatch } from '../support/batches';
import { startServiceUnderTest, type ServiceUnderTest } from '../support/serviceUnderTest';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhookReceiver';

/** The model the shared simulator serves (its default). */
const MODEL = 'sim-llama-3.1-8b-instruct';

/**
 * Every endpoint of the API contract through the official OpenAI SDK, each answer checked against
 * the strict schemas /openapi.json is generated from. A tenant of its own keeps listings exact.
 * Every call of this tenant goes through a recorder; the last test fails if an operation of the
 * table (src/api/operations.ts) was never answered with a success matching its response schema.
 */
describe('OpenAI API conformance through the official SDK', () => {
  const stack = testStack();
  const key = unique('sk-conformance');
  const sweeperKey = unique('sk-sweeper');
  const sweeperTenant = unique('sweeper');
  let sut: ServiceUnderTest;
  let client: OpenAI;
  let http: (path: string, init?: RequestInit) => Promise<Response>;
  const recorder = coverageRecorder();
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    receiver = await startWebhookReceiver(() => 200);
    sut = await startServiceUnderTest({
      env: { API_KEYS: `${key}:${unique('conformance')},${sweeperKey}:${sweeperTenant}`, WEBHOOK_ALLOW_PRIVATE: 'true' },
      apiKey: key,
    });
    client = new OpenAI({ baseURL: sut.service.apiUrl, apiKey: key, maxRetries: 0, fetch: recorder.fetch });
    http = (path, init = {}) => recorder.fetch(`${sut.service.apiUrl}${path}`, { ...init, headers: { authorization: `Bearer ${key}`, ...init.headers } });
  });

  afterAll(async () => {
    expect(await sut?.stop()).toBe(0);
    await receiver?.close();
  });

  const postJson = (path: string, body: unknown) => http(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  test('files: upload, retrieve and download byte for byte; filenames sanitised', async () => {
    const content = Buffer.from('{"custom_id":"é","x":"ünïcödé ✓"}\r\n\n{"custom_id":"2"}\n', 'utf8');
    const file = await client.files.create({ file: await toFile(content, '../../etc/input.jsonl'), purpose: 'batch' });
    expect(FileObject.parse(file)).toMatchObject({ purpose: 'batch', filename: 'input.jsonl', bytes: content.length, status: 'processed' });
    expect(file.created_at).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));

    expect(FileObject.parse(await client.files.retrieve(file.id))).toEqual(file);
    const download = await client.files.content(file.id);
    expect(Buffer.from(await download.arrayBuffer()).equals(content)).toBe(true);
  });

  test.each(['application/jsonl', 'application/x-ndjson'])('files: a raw %s body is an upload (extension)', async (contentType) => {
    const content = chatLine('raw-1', MODEL, 'hi') + '\n';
    const response = await http(`/files?purpose=batch&filename=${encodeURIComponent('dir/raw\u0001.jsonl')}`, {
      method: 'POST',
      headers: { 'content-type': contentType },
      body: content,
    });
    expect(response.status).toBe(200);
    const file = FileObject.parse(await response.json());
    expect(file).toMatchObject({ filename: 'raw.jsonl', purpose: 'batch', bytes: Buffer.byteLength(content) });
    expect(await (await client.files.content(file.id)).text()).toBe(content);
  });

  test('files: listing auto-paginates, newest first, and honours order, purpose and after', async () => {
    const uploaded: string[] = [];
    for (let i = 0; i < 5; i++) uploaded.push((await uploadJsonl(client, [chatLine(`p${i}`, MODEL, 'x')], `page-${i}.jsonl`)).id);

    const onePage = await http('/files?limit=10000');
    const all = FileList.parse(await onePage.json());
    expect(all.has_more).toBe(false);
    expect(all.first_id).toBe(all.data[0]!.id);
    expect(all.last_id).toBe(all.data.at(-1)!.id);

    const paged: string[] = [];
    for await (const file of client.files.list({ limit: 2 })) paged.push(FileObject.parse(file).id);
    expect(paged).toEqual(all.data.map((f) => f.id));
    // Newest first: the five uploads appear in reverse upload order, at the head of the list.
    expect(paged.slice(0, 5)).toEqual([...uploaded].reverse());

    const ascending: string[] = [];
    for await (const file of client.files.list({ limit: 3, order: 'asc' })) ascending.push(file.id);
    expect(ascending).toEqual([...paged].reverse());

    const firstPage = FileList.parse(await (await http('/files?limit=2')).json());
    expect(firstPage).toMatchObject({ has_more: true, first_id: uploaded[4], last_id: uploaded[3] });
    const next = FileList.parse(await (await http(`/files?limit=2&after=${firstPage.last_id}`)).json());
    expect(next.data.map((f) => f.id)).toEqual([uploaded[2], uploaded[1]]);

    const outputs = FileList.parse(await (await http('/files?purpose=batch_output')).json());
    expect(outputs.data.every((f) => f.purpose === 'batch_output')).toBe(true);
  });

  test('files: delete answers the deleted object; the file is gone everywhere', async () => {
    const file = await uploadJsonl(client, [chatLine('d', MODEL, 'x')]);
    expect(DeletedFileObject.parse(await client.files.delete(file.id))).toEqual({ id: file.id, object: 'file', deleted: true });
    await expect(client.files.retrieve(file.id)).rejects.toMatchObject({ status: 404, code: 'not_found' });
    await expect(client.files.content(file.id)).rejects.toMatchObject({ status: 404 });
    await expect(client.files.delete(file.id)).rejects.toMatchObject({ status: 404 });
    const ids: string[] = [];
    for await (const f of client.files.list()) ids.push(f.id);
    expect(ids).not.toContain(file.id);
  });

  test('files: deleting while auto-paginating visits every page', async () => {
    const sweeper = sut.clientAs(sweeperKey);
    for (let i = 0; i < 5; i++) await uploadJsonl(sweeper, [chatLine(`s${i}`, MODEL, 'x')]);
    let deleted = 0;
    for await (const file of sweeper.files.list({ limit: 2 })) {
      await sweeper.files.delete(file.id);
      deleted++;
    }
    expect(deleted).toBe(5);
    expect((await sweeper.files.list()).data).toEqual([]);
  });

  test('files: the input of a batch still validating cannot be deleted (its content is being read)', async () => {
    const sweeper = sut.clientAs(sweeperKey);
    const input = await uploadJsonl(sweeper, [chatLine('v', MODEL, 'x')]);
    // A batch row caught mid-validation, without a workflow that would move it on.
    const db = new pg.Client({ connectionString: stack.databaseUrl });
    await db.connect();
    try {
      await db.query(
        `INSERT INTO batches (id, tenant_id, endpoint, input_file_id, completion_window, status, expires_at)
         VALUES ($1, $2, '/v1/chat/completions', $3, '24h', 'validating', now() + interval '1 day')`,
        [`batch_${unique('validating').replace('-', '')}`, sweeperTenant, input.id],
      );
      await expect(sweeper.files.delete(input.id)).rejects.toMatchObject({ status: 409, code: 'file_in_use' });
      await db.query(`UPDATE batches SET status = 'failed' WHERE input_file_id = $1`, [input.id]);
    } finally {
      await db.end();
    }
    expect((await sweeper.files.delete(input.id)).deleted).toBe(true);
  });

  test('batches: create, retrieve and list with auto-pagination, newest first; results downloadable', async () => {
    const created: string[] = [];
    for (let i = 0; i < 3; i++) {
      const input = await uploadJsonl(client, [chatLine(`b${i}-1`, MODEL, 'one'), chatLine(`b${i}-2`, MODEL, 'two')]);
      const batch = await client.batches.create({
        input_file_id: input.id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
        metadata: { run: `conformance-${i}` },
      });
      expect(BatchObject.parse(batch)).toMatchObject({
        status: 'validating',
        input_file_id: input.id,
        metadata: { run: `conformance-${i}` },
        errors: null,
        output_file_id: null,
        error_file_id: null,
        in_progress_at: null,
        completed_at: null,
        request_counts: { total: 0, completed: 0, failed: 0 },
      });
      created.push(batch.id);
    }

    for (const [i, id] of created.entries()) {
      const batch = BatchObject.parse(await waitForBatch(client, id, (b) => TERMINAL.includes(b.status), 60_000));
      expect(batch).toMatchObject({ status: 'completed', model: MODEL, request_counts: { total: 2, completed: 2, failed: 0 } });
      const output = await readJsonl(client, batch.output_file_id);
      expect(output.map((l) => l.custom_id)).toEqual([`b${i}-1`, `b${i}-2`]);
      expect(FileObject.parse(await client.files.retrieve(batch.output_file_id!)).purpose).toBe('batch_output');
    }

    const listed: string[] = [];
    for await (const batch of client.batches.list({ limit: 2 })) listed.push(BatchObject.parse(batch).id);
    expect(listed).toEqual([...created].reverse());

    const page = BatchList.parse(await (await http('/batches?limit=2')).json());
    expect(page).toMatchObject({ has_more: true, first_id: created[2], last_id: created[1] });
    const rest = BatchList.parse(await (await http(`/batches?after=${created[1]}`)).json());
    expect(rest.data[0]!.id).toBe(created[0]);
    expect(rest.has_more).toBe(false);
  });

  test("expiration policies: a file's expires_after and a batch's output_expires_after, anchored at the file's creation", async () => {
    const expiring = await client.files.create({
      file: await toFile(Buffer.from(chatLine('exp-1', MODEL, 'hi') + '\n'), 'expiring.jsonl'),
      purpose: 'batch',
      expires_after: { anchor: 'created_at', seconds: 3_600 },
    });
    expect(FileObject.parse(expiring).expires_at).toBe(expiring.created_at + 3_600);
    await expect(
      client.files.create({ file: await toFile(Buffer.from('{}\n'), 'x.jsonl'), purpose: 'batch', expires_after: { anchor: 'created_at', seconds: 60 } }),
    ).rejects.toMatchObject({ status: 400, param: 'expires_after[seconds]' });

    const batch = await client.batches.create({
      input_file_id: expiring.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      output_expires_after: { anchor: 'created_at', seconds: 7_200 },
    });
    const done = await waitForBatch(client, batch.id, (b) => TERMINAL.includes(b.status));
    expect(done.status).toBe('completed');
    const output = FileObject.parse(await client.files.retrieve(done.output_file_id!));
    expect(output.expires_at).toBe(output.created_at + 7_200);
    await expect(
      client.batches.create({
        input_file_id: expiring.id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
        output_expires_after: { anchor: 'created_at', seconds: 9e9 },
      }),
    ).rejects.toMatchObject({ status: 400, param: 'output_expires_after.seconds' });
  });

  test('models: the served models, listed through the SDK', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toContain(MODEL);
    ModelList.parse(await (await http('/models')).json());
  });

  test('errors reach the SDK as typed, OpenAI-shaped errors', async () => {
    await expect(client.batches.retrieve('batch_nope')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.files.retrieve('file-nope')).rejects.toMatchObject({ status: 404, type: 'invalid_request_error', code: 'not_found' });
    await expect(client.batches.create({ input_file_id: 'file-nope', endpoint: '/v1/chat/completions', completion_window: '24h' })).rejects.toMatchObject({
      status: 400,
      param: 'input_file_id',
    });
    const anonymous = sut.clientAs('sk-wrong');
    await expect(anonymous.files.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });

  test('batches: cancel, results while running, retry of failed lines, webhook deliveries and their replay (extensions)', async () => {
    const cancelled = await client.batches.create({
      input_file_id: (await uploadJsonl(client, [chatLine('c1', MODEL, 'x')])).id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    expect(['cancelling', 'cancelled']).toContain(BatchObject.parse(await client.batches.cancel(cancelled.id)).status);

    // One line the simulator answers 400: the batch ends with a failed line to read, retry and be told of.
    const input = await uploadJsonl(client, [chatLine('ok', MODEL, 'fine'), chatLine('bad', MODEL, 'please [[sim:400]]')]);
    const created = await postJson('/batches', { input_file_id: input.id, webhook: { url: receiver.url('/conformance') } });
    expect(created.status).toBe(200);
    const { id } = (await created.json()) as { id: string };
    const done = await waitForBatch(client, id, (b) => TERMINAL.includes(b.status), 60_000);
    expect(done).toMatchObject({ status: 'completed', request_counts: { total: 2, completed: 1, failed: 1 } });

    const results = await http(`/batches/${id}/results?limit=10`);
    expect(results.status).toBe(200);
    const page = (await results.json()) as { data: Array<{ line: number; file: string; result: { custom_id: string } }> };
    expect(page.data.map(({ line, file, result }) => [line, file, result.custom_id])).toEqual([
      [1, 'output', 'ok'],
      [2, 'error', 'bad'],
    ]);

    const retried = await postJson(`/batches/${id}/retry`, {});
    expect(retried.status).toBe(200);
    expect(await retried.json()).toMatchObject({ retry_of: id, status: 'validating' });

    const deliveries = async () => (await (await http(`/batches/${id}/webhook_deliveries`)).json()) as { data: Array<{ id: string; status: string }> };
    const delivery = await waitFor(async () => (await deliveries()).data.find((d) => d.status === 'delivered'), { timeoutMs: 60_000, what: 'a delivered webhook' });
    // A delivery that failed, as one whose receiver was down for a day would have.
    const db = new pg.Client({ connectionString: stack.databaseUrl });
    await db.connect();
    try {
      await db.query(`UPDATE webhook_deliveries SET status = 'failed' WHERE id = $1`, [delivery.id]);
    } finally {
      await db.end();
    }
    const replay = await http(`/batches/${id}/webhook_deliveries/${delivery.id}/replay`, { method: 'POST' });
    expect(replay.status).toBe(200);
    expect(await replay.json()).toMatchObject({ id: delivery.id, status: 'pending' });
  });

  test('queues and queued requests: create, update, enqueue, read, cancel, delete (extensions)', async () => {
    const name = unique('conf').replace('-', '_');
    expect((await postJson('/queues', { name, model: MODEL, queue_threshold: 1000, time_threshold: 3600 })).status).toBe(200);
    expect((await postJson(`/queues/${name}`, { queue_threshold: 999 })).status).toBe(200);
    const queue = (await (await http(`/queues/${name}`)).json()) as { name: string };
    expect(queue.name).toBe(name);
    expect(((await (await http('/queues')).json()) as { data: Array<{ name: string }> }).data.map((q) => q.name)).toContain(name);

    const enqueued = await postJson(`/requests?queue=${name}`, { data: ['hello', 'world'] });
    expect(enqueued.status).toBe(200);
    const { request_ids: ids } = (await enqueued.json()) as { request_ids: string[] };
    expect(ids).toHaveLength(2);
    expect(await (await http(`/requests/${ids[0]}`)).json()).toMatchObject({ id: ids[0], status: 'queued' });
    expect(((await (await http('/requests?limit=2')).json()) as { data: Array<{ id: string }> }).data.map((r) => r.id).sort()).toEqual([...ids].sort());
    for (const requestId of ids) expect((await http(`/requests/${requestId}/cancel`, { method: 'POST' })).status).toBe(200);
    expect(await (await http(`/queues/${name}`, { method: 'DELETE' })).json()).toEqual({ id: name, object: 'queue.deleted', deleted: true });
  });

  test('GET /openapi.json is an OpenAPI 3.1 document of every endpoint, with every reference resolved', async () => {
    const response = await fetch(`${sut.service.apiUrl.replace(/\/v1$/, '')}/openapi.json`);
    expect(response.status).toBe(200);
    const doc = (await response.json()) as { openapi: string; paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, unknown> } };
    expect(doc.openapi).toBe('3.1.0');
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method} ${path}`));
    expect(documented.sort()).toEqual(OPERATIONS.map((op) => `${op.method} ${op.path}`).sort());
    const refs = JSON.stringify(doc).match(/"\$ref":"#\/components\/schemas\/[^"]+"/g) ?? [];
    for (const ref of refs) expect(Object.keys(doc.components.schemas)).toContain(ref.split('/').pop()!.replace('"', ''));
  });

  test('every operation of the table was answered with a success matching its response schema (keep this test last)', () => {
    expect(recorder.report()).toEqual({ missing: [], problems: [] });
  });
});
