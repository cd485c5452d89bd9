import OpenAI, { toFile } from 'openai';
import pg from 'pg';
import { BatchObject } from '../../src/batches/object';
import { DeletedFileObject, FileObject } from '../../src/files/object';
import { BatchList, FileList, ModelList } from '../../src/api/schemas';
import { unique } from '../support/api';
import { chatLine, readJsonl, TERMINAL, uploadJsonl, waitForBatch } from '../support/batches';
import { startServiceUnderTest, type ServiceUnderTest } from '../support/serviceUnderTest';
import { testStack } from '../support/stack';

/** The model the shared simulator serves (its default). */
const MODEL = 'sim-llama-3.1-8b-instruct';

/**
 * Every endpoint of the API contract through the official OpenAI SDK, each answer checked against
 * the strict schemas /openapi.json is generated from. A tenant of its own keeps listings exact.
 */
describe('OpenAI API conformance through the official SDK', () => {
  const stack = testStack();
  const key = unique('sk-conformance');
  const sweeperKey = unique('sk-sweeper');
  const sweeperTenant = unique('sweeper');
  let sut: ServiceUnderTest;
  let client: OpenAI;
  let http: (path: string, init?: RequestInit) => Promise<Response>;

  beforeAll(async () => {
    sut = await startServiceUnderTest({ env: { API_KEYS: `${key}:${unique('conformance')},${sweeperKey}:${sweeperTenant}` }, apiKey: key });
    client = sut.client;
    http = (path, init = {}) => fetch(`${sut.service.apiUrl}${path}`, { ...init, headers: { authorization: `Bearer ${key}`, ...init.headers } });
  });

  afterAll(async () => {
    expect(await sut?.stop()).toBe(0);
  });

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

  test('GET /openapi.json is an OpenAPI 3.1 document of every endpoint, with every reference resolved', async () => {
    const response = await fetch(`${sut.service.apiUrl.replace(/\/v1$/, '')}/openapi.json`);
    expect(response.status).toBe(200);
    const doc = (await response.json()) as { openapi: string; paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, unknown> } };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.fromEntries(Object.entries(doc.paths).map(([path, ops]) => [path, Object.keys(ops).sort()]))).toEqual({
      '/v1/files': ['get', 'post'],
      '/v1/files/{file_id}': ['delete', 'get'],
      '/v1/files/{file_id}/content': ['get'],
      '/v1/batches': ['get', 'post'],
      '/v1/batches/{batch_id}': ['get'],
      '/v1/batches/{batch_id}/cancel': ['post'],
      '/v1/batches/{batch_id}/results': ['get'],
      '/v1/batches/{batch_id}/retry': ['post'],
      '/v1/batches/{batch_id}/webhook_deliveries': ['get'],
      '/v1/batches/{batch_id}/webhook_deliveries/{delivery_id}/replay': ['post'],
      '/v1/models': ['get'],
      '/v1/queues': ['get', 'post'],
      '/v1/queues/{queue}': ['delete', 'get', 'post'],
      '/v1/requests': ['get', 'post'],
      '/v1/requests/{request_id}': ['get'],
      '/v1/requests/{request_id}/cancel': ['post'],
    });
    const refs = JSON.stringify(doc).match(/"\$ref":"#\/components\/schemas\/[^"]+"/g) ?? [];
    for (const ref of refs) expect(Object.keys(doc.components.schemas)).toContain(ref.split('/').pop()!.replace('"', ''));
  });
});
