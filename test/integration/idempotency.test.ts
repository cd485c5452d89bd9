import pg from 'pg';
import { chatLine } from '../support/batches';
import { startServiceUnderTest, type ServiceUnderTest } from '../support/serviceUnderTest';
import { testStack } from '../support/stack';

const MODEL = 'sim-llama-3.1-8b-instruct';
const KEYS = { a: 'sk-idem-a', b: 'sk-idem-b' };

/**
 * Idempotency-Key on POST /v1/files and POST /v1/batches, through the real API: concurrent duplicate
 * calls create exactly one object and all get it; another request with a used key is a 409; keys are
 * per tenant and last 24 hours.
 */
describe('Idempotency-Key', () => {
  let sut: ServiceUnderTest;
  let db: pg.Pool;

  beforeAll(async () => {
    sut = await startServiceUnderTest({ env: { API_KEYS: `${KEYS.a}:tenant-idem-a,${KEYS.b}:tenant-idem-b` } });
    db = new pg.Pool({ connectionString: testStack().databaseUrl, max: 2 });
  });

  afterAll(async () => {
    await db?.end();
    expect(await sut?.stop()).toBe(0);
  });

  const post = (path: string, init: { key?: string; apiKey?: string; body: string; type: string }) =>
    fetch(`${sut.service.apiUrl}${path}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${init.apiKey ?? KEYS.a}`,
        'content-type': init.type,
        ...(init.key === undefined ? {} : { 'idempotency-key': init.key }),
      },
      body: init.body,
    });
  const upload = (content: string, key?: string, apiKey?: string) =>
    post('/files?purpose=batch&filename=idem.jsonl', { key, apiKey, body: content, type: 'application/jsonl' });
  const createBatch = (body: Record<string, unknown>, key?: string, apiKey?: string) =>
    post('/batches', { key, apiKey, body: JSON.stringify(body), type: 'application/json' });
  const json = async (response: Response) => ({ status: response.status, replayed: response.headers.get('idempotent-replayed'), body: (await response.json()) as any });

  test('concurrent uploads with one key store one file, and every call gets it', async () => {
    const content = `${chatLine('a', MODEL, 'idempotent upload')}\n`;
    const answers = await Promise.all(Array.from({ length: 6 }, () => upload(content, 'upload-key-1').then(json)));
    expect(answers.map((a) => a.status)).toEqual(Array(6).fill(200));
    const ids = new Set(answers.map((a) => a.body.id));
    expect(ids.size).toBe(1);
    expect(answers.filter((a) => a.replayed === 'true')).toHaveLength(5);
    // The retries' own copies are gone: only the one file exists, visible or not.
    const { rows } = await db.query(`SELECT id FROM files WHERE tenant_id = 'tenant-idem-a' AND filename = 'idem.jsonl' AND deleted_at IS NULL`);
    expect(rows.map((r) => r.id)).toEqual([...ids]);

    const other = await json(await upload(`${chatLine('b', MODEL, 'other content')}\n`, 'upload-key-1'));
    expect(other.status).toBe(409);
    expect(other.body.error).toMatchObject({ type: 'invalid_request_error', code: 'idempotency_key_reused', param: 'Idempotency-Key' });
  });

  test('concurrent creates with one key start exactly one batch; another body with the key is a 409', async () => {
    const file = await json(await upload(`${chatLine('a', MODEL, 'idempotent batch')}\n`));
    const body = { input_file_id: file.body.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: { run: '1' } };
    const answers = await Promise.all(Array.from({ length: 8 }, () => createBatch(body, 'batch-key-1').then(json)));
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
    const ids = new Set(answers.map((a) => a.body.id));
    expect(ids.size).toBe(1);
    expect(answers.filter((a) => a.replayed === 'true')).toHaveLength(7);
    const { rows } = await db.query(`SELECT id FROM batches WHERE input_file_id = $1`, [file.body.id]);
    expect(rows.map((r) => r.id)).toEqual([...ids]);

    // The same request with its keys in another order is the same request.
    const reordered = await json(
      await createBatch({ metadata: { run: '1' }, completion_window: '24h', endpoint: '/v1/chat/completions', input_file_id: file.body.id }, 'batch-key-1'),
    );
    expect(reordered).toMatchObject({ status: 200, replayed: 'true', body: { id: [...ids][0] } });
    const different = await json(await createBatch({ ...body, metadata: { run: '2' } }, 'batch-key-1'));
    expect(different.status).toBe(409);
    expect(different.body.error.code).toBe('idempotency_key_reused');
    const withoutKey = await json(await createBatch(body));
    expect(withoutKey.status).toBe(200);
    expect(ids.has(withoutKey.body.id)).toBe(false);
  });

  test('keys are per tenant, and expire after 24 hours', async () => {
    const content = `${chatLine('a', MODEL, 'per tenant')}\n`;
    const a = await json(await upload(content, 'shared-key'));
    const b = await json(await upload(content, 'shared-key', KEYS.b));
    expect([a.status, b.status, b.replayed]).toEqual([200, 200, null]);
    expect(b.body.id).not.toBe(a.body.id);

    await db.query(`UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE tenant_id = 'tenant-idem-a' AND key = 'shared-key'`);
    const later = await json(await upload(`${chatLine('z', MODEL, 'a day later, other content')}\n`, 'shared-key'));
    expect([later.status, later.replayed]).toEqual([200, null]);
    expect(later.body.id).not.toBe(a.body.id);
  });

  test('a malformed key is refused with a clear error, and nothing is created', async () => {
    const answer = await json(await upload(`${chatLine('a', MODEL, 'bad key')}\n`, 'has a space'));
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'invalid_idempotency_key', param: 'Idempotency-Key' });
    const tooLong = await json(await createBatch({ input_file_id: 'file-x', endpoint: '/v1/chat/completions', completion_window: '24h' }, 'k'.repeat(256)));
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.code).toBe('invalid_idempotency_key');
  });
});
