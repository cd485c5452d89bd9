import fs from 'node:fs';
import OpenAI, { toFile } from 'openai';
import { BatchObject } from '../../src/batches/object';
import { expectApiError, unique } from '../support/api';
import pg from 'pg';
import { generateText } from '../../src/simulator/generation';
import { chatLine, readJsonl, TERMINAL, waitForBatch } from '../support/batches';
import { testStack } from '../support/stack';
import { startServiceUnderTest, type ServiceUnderTest } from '../support/serviceUnderTest';

const MODEL = 'sim-llama-3.1-8b-instruct';
const MAX_REQUESTS = 5;
/** The per-line limit of validation (MAX_LINE_BYTES in src/batches/lineValidation.ts): the file limit must exceed it. */
const MAX_LINE_BYTES = 8 * 1024 * 1024;
const MAX_FILE_BYTES = 9 * 1024 * 1024;
const MAX_REPORTED_ERRORS = 100;

const line = (fields: Record<string, unknown>) =>
  JSON.stringify({ custom_id: 'c', method: 'POST', url: '/v1/chat/completions', body: { model: MODEL, messages: [] }, ...fields });
const jsonl = (...lines: string[]) => Buffer.from(lines.join('\n') + '\n');
const ok = (id: string, model = MODEL) => chatLine(id, model, 'hi');

type Expected = [code: string, line: number | null, param: string | null];

/** Each invalid input and the errors.data it must produce, in order. */
const INVALID_FILES: Array<[name: string, content: Buffer, errors: Expected[]]> = [
  ['invalid JSON', jsonl(ok('a'), '{"custom_id": "b",'), [['invalid_json_line', 2, null]]],
  ['a line that is not an object', jsonl('[1, 2]'), [['invalid_request', 1, null]]],
  ['missing custom_id', jsonl(line({ custom_id: undefined })), [['missing_custom_id', 1, 'custom_id']]],
  ['empty custom_id', jsonl(line({ custom_id: '' })), [['missing_custom_id', 1, 'custom_id']]],
  ['duplicate custom_id', jsonl(ok('a'), ok('b'), ok('a')), [['duplicate_custom_id', 3, 'custom_id']]],
  ['method not POST', jsonl(line({ method: 'GET' })), [['invalid_method', 1, 'method']]],
  ['url not the batch endpoint', jsonl(line({ url: '/v1/embeddings' })), [['invalid_url', 1, 'url']]],
  ['body not an object', jsonl(line({ body: 'hello' })), [['invalid_body', 1, 'body']]],
  // JSON.stringify writes these as the escapes \u0000 and \ud800: valid JSON a PostgreSQL text column cannot hold.
  ['a custom_id with NUL', jsonl(ok('a'), line({ custom_id: 'b\u0000' })), [['invalid_custom_id', 2, 'custom_id']]],
  ['a custom_id with an unpaired surrogate', jsonl(line({ custom_id: 'a\ud800' })), [['invalid_custom_id', 1, 'custom_id']]],
  ['a model that is not a string', jsonl(line({ body: { model: 5, messages: [] } })), [['invalid_body', 1, 'body.model']]],
  ['a model with NUL', jsonl(line({ body: { model: 'm\u0000', messages: [] } })), [['invalid_body', 1, 'body.model']]],
  ['a streaming request', jsonl(ok('a'), line({ custom_id: 's', body: { model: MODEL, messages: [], stream: true } })), [['invalid_body', 2, 'body.stream']]],
  ['lines targeting different models', jsonl(ok('a'), ok('b', 'another-model')), [['mismatched_model', 2, 'body.model']]],
  ['a model no GPU worker serves', jsonl(ok('a', 'no-such-model'), ok('b', 'no-such-model')), [['model_not_found', 1, 'body.model']]],
  ['no model in the line nor the batch', jsonl(line({ body: { messages: [] } })), [['missing_model', 1, 'body.model']]],
  ['an empty file', Buffer.alloc(0), [['empty_file', null, null]]],
  ['only blank lines', Buffer.from('\n  \n\r\n'), [['empty_file', null, null]]],
  [
    `more than MAX_REQUESTS_PER_BATCH (${MAX_REQUESTS}) requests`,
    jsonl(...Array.from({ length: MAX_REQUESTS + 1 }, (_, i) => ok(`r${i}`))),
    [['too_many_requests', MAX_REQUESTS + 1, null]],
  ],
  [
    'a line over the per-line limit',
    jsonl(ok('a'), line({ custom_id: 'big', body: { model: MODEL, messages: [{ role: 'user', content: 'x'.repeat(MAX_LINE_BYTES) }] } }), ok('b')),
    [['line_too_long', 2, null]],
  ],
  ['invalid UTF-8', Buffer.concat([jsonl(ok('a')), Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d, 0x0a])]), [['invalid_encoding', 2, null]]],
  [
    'several problems, each reported with its line',
    jsonl(ok('a'), 'nope', line({ custom_id: 'b', method: 'PUT' }), ok('a'), line({ custom_id: 'c', url: '/v1/completions' })),
    [
      ['invalid_json_line', 2, null],
      ['invalid_method', 3, 'method'],
      ['duplicate_custom_id', 4, 'custom_id'],
      ['invalid_url', 5, 'url'],
    ],
  ],
  [
    'more problems than are reported',
    jsonl(...Array.from({ length: MAX_REPORTED_ERRORS + 50 }, () => '{')),
    Array.from({ length: MAX_REPORTED_ERRORS }, (_, i): Expected => ['invalid_json_line', i + 1, null]),
  ],
];

describe('validation and HTTP errors', () => {
  const key = unique('sk-validation');
  let sut: ServiceUnderTest;
  let client: OpenAI;
  /** A real batch input, for requests that must get past the input file check. */
  let inputFileId: string;

  beforeAll(async () => {
    sut = await startServiceUnderTest({
      env: {
        API_KEYS: `${key}:${unique('validation')}`,
        MAX_FILE_BYTES: String(MAX_FILE_BYTES),
        MAX_REQUESTS_PER_BATCH: String(MAX_REQUESTS),
        // The verdict on an unserved model, at once: its grace period is the liveness suite's.
        MODEL_GRACE_SECONDS: '0',
      },
      apiKey: key,
    });
    client = sut.client;
    inputFileId = (await client.files.create({ file: await toFile(jsonl(ok('a')), 'input.jsonl'), purpose: 'batch' })).id;
  });

  afterAll(async () => {
    expect(await sut?.stop()).toBe(0);
  });

  test.each(INVALID_FILES)('an input file with %s fails validation with line errors', async (_name, content, expected) => {
    const input = await client.files.create({ file: await toFile(content, 'input.jsonl'), purpose: 'batch' });
    const created = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const batch = BatchObject.parse(await waitForBatch(client, created.id, (b) => TERMINAL.includes(b.status), 60_000));

    expect(batch).toMatchObject({ status: 'failed', failed_at: expect.any(Number), in_progress_at: null, output_file_id: null, error_file_id: null });
    // Whatever its first chunks ran while it validated (a duplicate is found only at the end) is dropped.
    expect(batch.request_counts).toEqual({ total: 0, completed: 0, failed: 0 });
    expect(batch.usage.total_tokens).toBe(0);
    expect(batch.errors!.object).toBe('list');
    expect(batch.errors!.data.map((e) => [e.code, e.line, e.param])).toEqual(expected);
    for (const error of batch.errors!.data) expect(error.message.length).toBeGreaterThan(0);
  });

  type HttpCase = {
    method?: string;
    path: string;
    headers?: Record<string, string>;
    body?: () => RequestInit['body'];
    anonymous?: boolean;
  };
  const json = (value: unknown) => ({ headers: { 'content-type': 'application/json' }, body: () => JSON.stringify(value) });
  const form = (fields: Record<string, string>, file?: Buffer, more: Array<[field: string, file: Buffer]> = []) => ({
    body: () => {
      const data = new FormData();
      for (const [name, value] of Object.entries(fields)) data.append(name, value);
      if (file) data.append('file', new Blob([file]), 'input.jsonl');
      for (const [field, extra] of more) data.append(field, new Blob([extra]), 'more.jsonl');
      return data;
    },
  });
  const post = (path: string, rest: Omit<HttpCase, 'path'> = {}): HttpCase => ({ method: 'POST', path, ...rest });

  /** Each invalid request and the OpenAI-shaped error it must get, one a line (prettier-ignore: prettier would split the longer ones). */
  // prettier-ignore
  const INVALID_REQUESTS: Array<[name: string, request: HttpCase, status: number, type: string, code: string, param: string | null]> = [
    ['an unknown route', { path: '/v1/nothing-here' }, 404, 'invalid_request_error', 'unknown_url', null],
    ['an unsupported method', { method: 'PUT', path: '/v1/files' }, 404, 'invalid_request_error', 'unknown_url', null],
    ['no API key', { path: '/v1/files', anonymous: true }, 401, 'authentication_error', 'missing_api_key', null],
    ['a wrong API key', { path: '/v1/files', headers: { authorization: 'Bearer sk-wrong' } }, 401, 'authentication_error', 'invalid_api_key', null],
    ['a malformed JSON body', post('/v1/batches', { headers: { 'content-type': 'application/json' }, body: () => '{"input_file_id":' }), 400, 'invalid_request_error', 'invalid_json', null],
    ['a JSON body that is an array', post('/v1/batches', json(['x'])), 400, 'invalid_request_error', 'invalid_request', null],
    ['a JSON body that is null', post('/v1/batches', json(null)), 400, 'invalid_request_error', 'invalid_request', null],
    ['a JSON body that is a string', post('/v1/batches', json('file-x')), 400, 'invalid_request_error', 'invalid_request', null],
    ['a JSON body over 1 MB', post('/v1/batches', json({ input_file_id: 'x'.repeat(1_100_000) })), 413, 'invalid_request_error', 'request_too_large', null],
    ['a batch body that is not JSON', post('/v1/batches', { headers: { 'content-type': 'text/plain' }, body: () => 'input_file_id=x' }), 415, 'invalid_request_error', 'unsupported_content_type', null],
    ['a missing input_file_id', post('/v1/batches', json({ endpoint: '/v1/chat/completions' })), 400, 'invalid_request_error', 'missing_required_parameter', 'input_file_id'],
    ['an unknown input file', post('/v1/batches', json({ input_file_id: 'file-nope' })), 400, 'invalid_request_error', 'invalid_input_file', 'input_file_id'],
    ['an unsupported endpoint', post('/v1/batches', json({ input_file_id: 'file-x', endpoint: '/v1/classify' })), 400, 'invalid_request_error', 'invalid_value', 'endpoint'],
    ['an invalid completion_window', post('/v1/batches', json({ input_file_id: 'file-x', completion_window: '2 weeks' })), 400, 'invalid_request_error', 'invalid_value', 'completion_window'],
    ['metadata with more than 16 keys', post('/v1/batches', json({ input_file_id: 'file-x', metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) })), 400, 'invalid_request_error', 'invalid_value', 'metadata'],
    ['an upload that is neither multipart nor JSONL', post('/v1/files', json({ purpose: 'batch' })), 415, 'invalid_request_error', 'unsupported_content_type', 'file'],
    ['a multipart upload without purpose', post('/v1/files', form({}, jsonl(ok('a')))), 400, 'invalid_request_error', 'missing_required_parameter', 'purpose'],
    ['a multipart upload with an unsupported purpose', post('/v1/files', form({ purpose: 'fine-tune' }, jsonl(ok('a')))), 400, 'invalid_request_error', 'invalid_value', 'purpose'],
    ['a multipart upload without a file', post('/v1/files', form({ purpose: 'batch' })), 400, 'invalid_request_error', 'missing_required_parameter', 'file'],
    ['a multipart upload with two files', post('/v1/files', form({ purpose: 'batch' }, jsonl(ok('a')), [['file', jsonl(ok('b'))]])), 400, 'invalid_request_error', 'invalid_multipart', 'file'],
    ['a multipart upload with a second file part', post('/v1/files', form({ purpose: 'batch' }, jsonl(ok('a')), [['input', jsonl(ok('b'))]])), 400, 'invalid_request_error', 'invalid_multipart', 'input'],
    ['a raw upload without purpose', post('/v1/files', { headers: { 'content-type': 'application/jsonl' }, body: () => jsonl(ok('a')) }), 400, 'invalid_request_error', 'missing_required_parameter', 'purpose'],
    ['a multipart upload over MAX_FILE_BYTES', post('/v1/files', form({ purpose: 'batch' }, Buffer.alloc(MAX_FILE_BYTES + 1, 0x61))), 413, 'invalid_request_error', 'file_too_large', 'file'],
    ['a raw upload over MAX_FILE_BYTES', post('/v1/files?purpose=batch', { headers: { 'content-type': 'application/jsonl' }, body: () => Buffer.alloc(MAX_FILE_BYTES + 1, 0x61) }), 413, 'invalid_request_error', 'file_too_large', 'file'],
    ['an unknown batch', { path: '/v1/batches/batch_nope' }, 404, 'invalid_request_error', 'not_found', null],
    ['an unknown file', { path: '/v1/files/file-nope' }, 404, 'invalid_request_error', 'not_found', null],
    ['the content of an unknown file', { path: '/v1/files/file-nope/content' }, 404, 'invalid_request_error', 'not_found', null],
    ['deleting an unknown file', { method: 'DELETE', path: '/v1/files/file-nope' }, 404, 'invalid_request_error', 'not_found', null],
    ['a file list limit of 0', { path: '/v1/files?limit=0' }, 400, 'invalid_request_error', 'invalid_value', 'limit'],
    ['a file list limit over 10,000', { path: '/v1/files?limit=10001' }, 400, 'invalid_request_error', 'invalid_value', 'limit'],
    ['a file list limit that is not a number', { path: '/v1/files?limit=ten' }, 400, 'invalid_request_error', 'invalid_value', 'limit'],
    ['a file list order other than asc|desc', { path: '/v1/files?order=random' }, 400, 'invalid_request_error', 'invalid_value', 'order'],
    ['a file list cursor that names no file', { path: '/v1/files?after=file-nope' }, 400, 'invalid_request_error', 'invalid_value', 'after'],
    ['a batch list limit over 100', { path: '/v1/batches?limit=101' }, 400, 'invalid_request_error', 'invalid_value', 'limit'],
    ['a batch list limit of 0', { path: '/v1/batches?limit=0' }, 400, 'invalid_request_error', 'invalid_value', 'limit'],
    ['a batch list cursor that names no batch', { path: '/v1/batches?after=batch_nope' }, 400, 'invalid_request_error', 'invalid_value', 'after'],
    ['a malformed percent-encoding in the path', { path: '/v1/files/%E0%A4%A' }, 400, 'invalid_request_error', 'invalid_request', null],
    // A NUL names nothing (no id can hold one) and no parameter may hold one, nor an unpaired surrogate.
    ['a file id with NUL', { path: '/v1/files/file-%00x' }, 404, 'invalid_request_error', 'not_found', null],
    ['the content of a file id with NUL', { path: '/v1/files/file-%00x/content' }, 404, 'invalid_request_error', 'not_found', null],
    ['deleting a file id with NUL', { method: 'DELETE', path: '/v1/files/file-%00x' }, 404, 'invalid_request_error', 'not_found', null],
    ['a batch id with NUL', { path: '/v1/batches/%00' }, 404, 'invalid_request_error', 'not_found', null],
    ['cancelling a batch id with NUL', post('/v1/batches/batch_%00/cancel'), 404, 'invalid_request_error', 'not_found', null],
    ['the deliveries of a batch id with NUL', { path: '/v1/batches/batch_%00/webhook_deliveries' }, 404, 'invalid_request_error', 'not_found', null],
    ['replaying a delivery id with NUL', post('/v1/batches/batch_x/webhook_deliveries/%00/replay'), 404, 'invalid_request_error', 'not_found', null],
    ['a file list cursor with NUL', { path: '/v1/files?after=%00' }, 400, 'invalid_request_error', 'invalid_value', 'after'],
    ['a batch list cursor with NUL', { path: '/v1/batches?after=file-%00' }, 400, 'invalid_request_error', 'invalid_value', 'after'],
    ['an input_file_id with NUL', post('/v1/batches', json({ input_file_id: 'file-\u0000' })), 400, 'invalid_request_error', 'invalid_value', 'input_file_id'],
    ['a model with an unpaired surrogate', post('/v1/batches', json({ input_file_id: 'file-x', model: 'm\ud800' })), 400, 'invalid_request_error', 'invalid_value', 'model'],
    ['a metadata value with NUL', post('/v1/batches', json({ input_file_id: 'file-x', metadata: { k: 'v\u0000' } })), 400, 'invalid_request_error', 'invalid_value', 'metadata.k'],
    ['a metadata key with NUL', post('/v1/batches', json({ input_file_id: 'file-x', metadata: { 'k\u0000': 'v' } })), 400, 'invalid_request_error', 'invalid_value', 'metadata'],
    ['a metadata key __proto__', post('/v1/batches', { headers: { 'content-type': 'application/json' }, body: () => '{"input_file_id":"file-x","metadata":{"__proto__":"x"}}' }), 400, 'invalid_request_error', 'invalid_value', 'metadata'],
    ['a webhook secret with an unpaired surrogate', post('/v1/batches', json({ input_file_id: 'file-x', webhook: { url: 'https://example.com/h', secret: '\udc00' } })), 400, 'invalid_request_error', 'invalid_value', 'webhook.secret'],
    ['a webhook URL with NUL', post('/v1/batches', json({ input_file_id: 'file-x', webhook: { url: 'https://example.com/\u0000' } })), 400, 'invalid_request_error', 'invalid_value', 'webhook.url'],
    ['a webhook URL over 2048 characters', post('/v1/batches', json({ input_file_id: 'file-x', webhook: { url: `https://example.com/${'a'.repeat(10_000)}` } })), 400, 'invalid_request_error', 'invalid_value', 'webhook.url'],
    ['a metadata.priority out of 1–5', post('/v1/batches', json({ input_file_id: 'file-x', metadata: { priority: '9' } })), 400, 'invalid_request_error', 'invalid_value', 'metadata.priority'],
    ['a completion_window over 30 days', post('/v1/batches', json({ input_file_id: 'file-x', completion_window: '31d' })), 400, 'invalid_request_error', 'invalid_value', 'completion_window'],
    ['a completion_window of 9999999 days', post('/v1/batches', json({ input_file_id: 'file-x', completion_window: '9999999d' })), 400, 'invalid_request_error', 'invalid_value', 'completion_window'],
    ['a webhook URL with credentials', post('/v1/batches', { headers: { 'content-type': 'application/json' }, body: () => JSON.stringify({ input_file_id: inputFileId, webhook: { url: 'https://user:secret@example.com/h' } }) }), 400, 'invalid_request_error', 'invalid_webhook_url', 'webhook.url'],
    ['a metadata.webhook_url with credentials', post('/v1/batches', { headers: { 'content-type': 'application/json' }, body: () => JSON.stringify({ input_file_id: inputFileId, metadata: { webhook_url: 'https://token@example.com/h' } }) }), 400, 'invalid_request_error', 'invalid_webhook_url', 'metadata.webhook_url'],
  ];

  test('the messages of mistakes say what is wrong', async () => {
    const messageOf = async (body: string) => {
      const response = await fetch(`${sut.service.apiUrl}/batches`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body,
      });
      return ((await response.json()) as { error: { message: string } }).error.message;
    };
    expect(await messageOf('null')).toBe('The request body must be a JSON object.');
    expect(await messageOf(JSON.stringify({ input_file_id: 'file-x', webhook: { url: `https://example.com/${'a'.repeat(10_000)}` } }))).toMatch(
      /at most 2048 characters/,
    );
    expect(await messageOf('{"input_file_id":"file-x","completion_window":"31d"}')).toMatch(/at most 30d/);
    const refused = await messageOf(JSON.stringify({ input_file_id: inputFileId, webhook: { url: 'https://user:secret@example.com/h' } }));
    expect(refused).toMatch(/must not contain credentials/);
    expect(refused).not.toContain('secret@');
  });

  test.each(INVALID_REQUESTS)('%s is answered with an OpenAI-shaped error', async (_name, request, status, type, code, param) => {
    const headers: Record<string, string> = request.anonymous ? {} : { authorization: `Bearer ${key}` };
    const response = await fetch(`${sut.service.apiUrl.replace(/\/v1$/, '')}${request.path}`, {
      method: request.method ?? 'GET',
      headers: { ...headers, ...request.headers },
      body: request.body ? request.body() : undefined,
    });
    await expectApiError(response, { status, type, code, param });
  });

  test('an upload with two files is refused with its reason, and stores neither', async () => {
    const count = async () => (await client.files.list({ limit: 10_000 })).data.length;
    const before = await count();
    const response = await fetch(`${sut.service.apiUrl}/files`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
      body: form({ purpose: 'batch' }, jsonl(ok('a')), [['file', jsonl(ok('b'))]]).body(),
    });
    const body = (await response.json()) as { error: { message: string } };
    expect(response.status).toBe(400);
    expect(body.error.message).toMatch(/second file part \('file'\): upload exactly one file/);
    expect(await count()).toBe(before);
  });

  test('an oversized upload is refused while streaming, without buffering it', async () => {
    const peakBefore = peakRssBytes(sut.service.child.pid!);
    const streamed = 256 * 1024 * 1024;
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= streamed) return controller.close();
        sent += chunk.length;
        controller.enqueue(chunk);
      },
    });
    const response = await fetch(`${sut.service.apiUrl}/files?purpose=batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/jsonl' },
      body,
      duplex: 'half',
    });
    await expectApiError(response, { status: 413, type: 'invalid_request_error', code: 'file_too_large', param: 'file' });
    expect(sent).toBeLessThan(streamed); // answered mid-upload, not after reading it all
    expect(peakRssBytes(sut.service.child.pid!) - peakBefore).toBeLessThan(64 * 1024 * 1024);
    // Nothing half-stored: the tenant's files are unchanged.
    expect((await client.files.list()).data.every((f) => f.bytes <= MAX_FILE_BYTES)).toBe(true);
  });

  test('bodies with NUL and unpaired surrogates are kept exactly as sent and run', async () => {
    // Valid JSON that PostgreSQL's jsonb and text reject: stored as JSON text, sent to the backend unaltered.
    const contents = ['nul \u0000 inside', 'lone high \ud800 surrogate', 'lone low \udc00', 'both \u0000\udfff'];
    const lines = contents.map((content, i) => chatLine(`p${i}`, MODEL, content, { 'key\u0000': 'v\ud83d' }));
    const input = await client.files.create({ file: await toFile(jsonl(...lines), 'poison.jsonl'), purpose: 'batch' });
    const created = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const batch = await waitForBatch(client, created.id, (b) => TERMINAL.includes(b.status), 60_000);
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: contents.length, completed: contents.length, failed: 0 } });

    const output = await readJsonl(client, batch.output_file_id);
    expect(output.map((l) => l.custom_id)).toEqual(contents.map((_, i) => `p${i}`));
    // The simulator's reply is seeded by the exact prompt it received: a NUL dropped or replaced on the way changes it.
    output.forEach((l, i) => {
      expect(l.response!.body.choices[0].message.content).toBe(generateText(`${MODEL}\nuser: ${contents[i]}\n0`, 16).text);
    });
    // And the stored request is the client's JSON, escapes and all (the replacement character would show as U+FFFD).
    const db = new pg.Client({ connectionString: testStack().databaseUrl });
    await db.connect();
    try {
      const { rows } = await db.query<{ body: string }>(`SELECT body::text AS body FROM batch_requests WHERE batch_id = $1 ORDER BY line_no`, [batch.id]);
      expect(rows.map((r) => JSON.parse(r.body) as unknown)).toEqual(lines.map((l) => (JSON.parse(l) as { body: unknown }).body));
      expect(rows[1]!.body).toContain('\\ud800');
    } finally {
      await db.end();
    }
    // The input is no longer held by a batch stuck validating: it can be deleted.
    expect((await client.files.delete(input.id)).deleted).toBe(true);
  });

  test('the SDK surfaces an oversized upload as a 413', async () => {
    await expect(client.files.create({ file: await toFile(Buffer.alloc(MAX_FILE_BYTES + 1, 0x61), 'big.jsonl'), purpose: 'batch' })).rejects.toMatchObject({
      status: 413,
      code: 'file_too_large',
    });
  });
});

/** The high-water mark of a process's resident memory. */
function peakRssBytes(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match![1]) * 1024;
}
