import { Client, Connection } from '@temporalio/client';
import type OpenAI from 'openai';
import { chatLine, expectEachCustomIdOnce, readJsonl, TERMINAL, uploadJsonl, waitForBatch } from '../support/batches';
import { startServiceUnderTest, type ServiceUnderTest } from '../support/serviceUnderTest';
import { waitFor } from '../support/wait';
import { connectTestDb } from '../support/fixtures';
import type { Db } from '../../src/db/pool';
import { testStack } from '../support/stack';

/** The model the shared simulator serves (its default). */
const MODEL = 'sim-llama-3.1-8b-instruct';

describe('the user path through the official OpenAI SDK', () => {
  const stack = testStack();
  let sut: ServiceUnderTest;
  let client: OpenAI;
  let db: Db;

  beforeAll(async () => {
    sut = await startServiceUnderTest();
    client = sut.client;
    db = await connectTestDb();
  });

  afterAll(async () => {
    await db?.end();
    expect(await sut?.stop()).toBe(0);
  });

  test('a 1,000-line chat batch completes with every line in input order, counted and visible in Temporal', async () => {
    const customIds = Array.from({ length: 1000 }, (_, i) => `request-${i}`);
    const lines = customIds.map((id, i) => chatLine(id, MODEL, `Question number ${i}?`));
    const input = await uploadJsonl(client, lines, 'questions.jsonl');
    expect(input).toMatchObject({ object: 'file', purpose: 'batch', filename: 'questions.jsonl', status: 'processed' });
    expect(input.bytes).toBe(Buffer.byteLength(lines.join('\n') + '\n'));
    expect(Buffer.from(await (await client.files.content(input.id)).arrayBuffer()).toString()).toBe(lines.join('\n') + '\n');

    const simulatorStats = async () => ((await (await fetch(stack.simulatorUrl.replace(/\/v1$/, '/sim/stats'))).json()) as { requests: number }).requests;
    const requestsBefore = await simulatorStats();
    const created = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    expect(created).toMatchObject({ object: 'batch', status: 'validating', input_file_id: input.id, output_file_id: null });

    const batch = await waitForBatch(client, created.id, (b) => TERMINAL.includes(b.status));
    expect(batch.status).toBe('completed');
    expect(batch.request_counts).toEqual({ total: 1000, completed: 1000, failed: 0 });
    expect(batch.model).toBe(MODEL);
    for (const stamp of ['in_progress_at', 'finalizing_at', 'completed_at'] as const) expect(batch[stamp]).toEqual(expect.any(Number));
    expect(batch.error_file_id).toBeNull();
    // Without failures, each request reaches the GPU exactly once.
    expect((await simulatorStats()) - requestsBefore).toBe(1000);

    const output = await readJsonl(client, batch.output_file_id);
    expect(output.map((l) => l.custom_id)).toEqual(customIds);
    expectEachCustomIdOnce(customIds, output, []);
    for (const line of output) {
      expect(line.id).toMatch(/^batch_req_/);
      expect(line.error).toBeNull();
      expect(line.response!.status_code).toBe(200);
      expect(line.response!.body.object).toBe('chat.completion');
      expect(line.response!.body.choices[0].message.content.length).toBeGreaterThan(0);
    }
    const usage = output.reduce(
      (sum, l) => ({ input: sum.input + l.response!.body.usage.prompt_tokens, output: sum.output + l.response!.body.usage.completion_tokens }),
      { input: 0, output: 0 },
    );
    expect(batch.usage).toEqual({ input_tokens: usage.input, output_tokens: usage.output, total_tokens: usage.input + usage.output });

    const outputFile = await client.files.retrieve(batch.output_file_id!);
    expect(outputFile.purpose).toBe('batch_output');

    // The workflow carries the batch ID, for operators looking in Temporal.
    const connection = await Connection.connect({ address: stack.temporalAddress });
    try {
      const description = await new Client({ connection }).workflow.getHandle(batch.id).describe();
      expect(description.type).toBe('batchWorkflow');
      expect(description.status.name).toBe('COMPLETED');
    } finally {
      await connection.close();
    }
    if (stack.temporalUiUrl) {
      const ui = await fetch(`${stack.temporalUiUrl}/api/v1/namespaces/default/workflows/${batch.id}`);
      expect(ui.status).toBe(200);
      expect(await ui.text()).toContain(batch.id);
    }
  });

  test('a batch starts running while it is still validating, and shows none of it until it is in progress', async () => {
    const total = 5_000;
    const customIds = Array.from({ length: total }, (_, i) => `early-${i}`);
    const input = await uploadJsonl(
      client,
      customIds.map((id) => chatLine(id, MODEL, `Question ${id}?`)),
      'early.jsonl',
    );
    const simulatorStats = async () => ((await (await fetch(stack.simulatorUrl.replace(/\/v1$/, '/sim/stats'))).json()) as { requests: number }).requests;
    const requestsBefore = await simulatorStats();
    const created = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    // The batch row held as a writer would hold it: its validation cannot move it to in_progress (nor
    // its chunks store a result) until the test lets go; reading its file and indexing it can go on.
    const holder = await db.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM batches WHERE id = $1 FOR NO KEY UPDATE', [created.id]);
      const whileValidating = await waitFor(
        async () => {
          const sent = (await simulatorStats()) - requestsBefore;
          return sent > 0 && (await client.batches.retrieve(created.id));
        },
        { timeoutMs: 30_000, intervalMs: 50, what: 'a request of the batch at the GPU while it validates' },
      );
      expect(whileValidating).toMatchObject({ status: 'validating', request_counts: { total: 0, completed: 0, failed: 0 }, usage: { total_tokens: 0 } });
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }

    const batch = await waitForBatch(client, created.id, (b) => TERMINAL.includes(b.status));
    expect(batch.request_counts).toEqual({ total, completed: total, failed: 0 });
    // The head's requests were not run again once the batch was planned.
    expect((await simulatorStats()) - requestsBefore).toBe(total);
    expectEachCustomIdOnce(customIds, await readJsonl(client, batch.output_file_id), []);
  });

  test('blank lines are skipped wherever they are, even a run longer than a page of the output file', async () => {
    // Finalize reads the requests in ranges of 1,000 line numbers; blank lines leave gaps in them.
    const customIds = Array.from({ length: 2100 }, (_, i) => `spaced-${i}`);
    const lines = customIds.flatMap((id, i) => {
      const line = chatLine(id, MODEL, `Spaced question ${i}?`);
      if (i === 700) return [...Array<string>(1500).fill(''), line];
      return i % 3 === 0 ? ['', line] : [line];
    });
    const input = await uploadJsonl(client, lines, 'spaced.jsonl');
    const created = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const batch = await waitForBatch(client, created.id, (b) => TERMINAL.includes(b.status));
    expect(batch.status).toBe('completed');
    expect(batch.request_counts).toEqual({ total: 2100, completed: 2100, failed: 0 });
    const output = await readJsonl(client, batch.output_file_id);
    expect(output.map((l) => l.custom_id)).toEqual(customIds);
  });

  test('client errors go to the error file with their response; transient failures are retried to success', async () => {
    const lines = [
      chatLine('plain', MODEL, 'hello'),
      chatLine('bad-request', MODEL, 'please fail [[sim:400]]'),
      chatLine('flaky-500', MODEL, 'fails twice [[sim:500x2]]'),
      chatLine('rate-limited', MODEL, 'limited once [[sim:429x1]]'),
    ];
    const input = await uploadJsonl(client, lines);
    const created = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const batch = await waitForBatch(client, created.id, (b) => TERMINAL.includes(b.status));

    expect(batch.status).toBe('completed');
    expect(batch.request_counts).toEqual({ total: 4, completed: 3, failed: 1 });
    const output = await readJsonl(client, batch.output_file_id);
    const errors = await readJsonl(client, batch.error_file_id);
    expect(output.map((l) => l.custom_id)).toEqual(['plain', 'flaky-500', 'rate-limited']);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ custom_id: 'bad-request', error: null, response: { status_code: 400 } });
    expect(errors[0]!.response!.body.error.type).toBe('invalid_request_error');
    expectEachCustomIdOnce(['plain', 'bad-request', 'flaky-500', 'rate-limited'], output, errors);
  });

  test('the seed guide’s minimal create body: model from metadata, default endpoint and window', async () => {
    const lines = ['a', 'b', 'c'].map((id) =>
      JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: { messages: [{ role: 'user', content: id }] } }),
    );
    const input = await uploadJsonl(client, lines);
    const response = await fetch(`${sut.service.apiUrl}/batches`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input_file_id: input.id, metadata: { model: MODEL } }),
    });
    expect(response.status).toBe(200);
    const created = (await response.json()) as { id: string; endpoint: string; completion_window: string };
    expect(created).toMatchObject({ endpoint: '/v1/chat/completions', completion_window: '24h' });
    const batch = await waitForBatch(client, created.id, (b) => TERMINAL.includes(b.status));
    expect(batch.status).toBe('completed');
    const output = await readJsonl(client, batch.output_file_id);
    expect(output.map((l) => l.response!.body.model)).toEqual([MODEL, MODEL, MODEL]);
  });

  test('an invalid input file fails validation, reporting each bad line', async () => {
    const lines = [
      chatLine('one', MODEL, 'fine'),
      '{not json',
      chatLine('one', MODEL, 'duplicate id'),
      JSON.stringify({ custom_id: 'wrong-url', method: 'POST', url: '/v1/embeddings', body: { model: MODEL, input: 'x' } }),
    ];
    const input = await uploadJsonl(client, lines);
    const created = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const batch = await waitForBatch(client, created.id, (b) => TERMINAL.includes(b.status));
    expect(batch.status).toBe('failed');
    expect(batch.failed_at).toEqual(expect.any(Number));
    expect(batch.errors?.data?.map((e) => [e.code, e.line])).toEqual([
      ['invalid_json_line', 2],
      ['duplicate_custom_id', 3],
      ['invalid_url', 4],
    ]);
    expect(batch.output_file_id).toBeNull();
  });

  test('unknown IDs and routes answer with OpenAI-shaped errors', async () => {
    await expect(client.batches.retrieve('batch_doesnotexist')).rejects.toMatchObject({ status: 404, type: 'invalid_request_error' });
    await expect(client.files.retrieve('file-doesnotexist')).rejects.toMatchObject({ status: 404 });
    const response = await fetch(`${sut.service.apiUrl}/batches`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: { message: expect.any(String), type: 'invalid_request_error', param: null, code: 'invalid_json' },
    });
  });
});
