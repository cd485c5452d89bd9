import type OpenAI from 'openai';
import type { Batch } from 'openai/resources/batches';
import { ENDPOINTS_OF_KIND, type BatchEndpoint } from '../../src/domain/endpoints';
import { defaultSimulatorOptions } from '../../src/simulator/config';
import { estimateTokens } from '../../src/simulator/generation';
import { startSimulator, type RunningSimulator } from '../../src/simulator/server';
import { expectEachCustomIdOnce, readJsonl, TERMINAL, uploadJsonl, waitForBatch, type ResultLine } from '../support/batches';
import { startServiceUnderTest, type ServiceUnderTest } from '../support/serviceUnderTest';

const GENERATION_MODEL = 'sim-endpoints-generate';
const POOLING_MODEL = 'sim-endpoints-pool';

/**
 * Issue 13: every endpoint vLLM serves, as batch endpoints. One GPU worker with two backends, as a
 * vLLM of a generation model and a vLLM of a pooling model are: each simulator serves (and lists in
 * /openapi.json) only its kind's routes, and the worker learns which from there. Each new endpoint
 * runs a batch with a success, a faulted line and exact usage; a batch for an endpoint the model is
 * not served at fails validation, saying so.
 */
describe('batch endpoints beyond chat', () => {
  let sut: ServiceUnderTest;
  let client: OpenAI;
  let generation: RunningSimulator;
  let pooling: RunningSimulator;

  beforeAll(async () => {
    generation = await startSimulator(defaultSimulatorOptions({ models: [GENERATION_MODEL], endpoints: [...ENDPOINTS_OF_KIND.generation], baseLatencyMs: 5 }));
    pooling = await startSimulator(defaultSimulatorOptions({ models: [POOLING_MODEL], endpoints: [...ENDPOINTS_OF_KIND.pooling], baseLatencyMs: 5 }));
    // No VLLM_ENDPOINTS: the worker reads each backend's /openapi.json.
    sut = await startServiceUnderTest({ env: { VLLM_BASE_URL: `${generation.baseUrl},${pooling.baseUrl}`, REQUEST_MAX_ATTEMPTS: '2', MODEL_GRACE_SECONDS: '0' } });
    client = sut.client;
  }, 120_000);

  afterAll(async () => {
    expect(await sut?.stop()).toBe(0);
    await Promise.all([generation?.close(), pooling?.close()]);
  });

  const line = (customId: string, url: BatchEndpoint, body: Record<string, unknown>) => JSON.stringify({ custom_id: customId, method: 'POST', url, body });

  async function runBatch(endpoint: BatchEndpoint, lines: string[]): Promise<{ batch: Batch; output: ResultLine[]; errors: ResultLine[] }> {
    const input = await uploadJsonl(client, lines);
    // The SDK types OpenAI's four endpoints; vLLM's score and rerank are this server's extension.
    const created = await client.batches.create({ input_file_id: input.id, endpoint: endpoint as '/v1/responses', completion_window: '24h' });
    const batch = await waitForBatch(client, created.id, (b) => TERMINAL.includes(b.status), 90_000);
    return { batch, output: await readJsonl(client, batch.output_file_id), errors: await readJsonl(client, batch.error_file_id) };
  }

  /** The usage the batch must report: the sum over the 2xx lines' bodies, read in each endpoint's shape. */
  const sumOf = (lines: ResultLine[], field: string) => lines.reduce((n, l) => n + ((l.response!.body as { usage: Record<string, number> }).usage[field] ?? 0), 0);

  test('GET /v1/models says which endpoints each model is served at, as each backend told the worker', async () => {
    const models = (await client.models.list()).data as unknown as Array<{ id: string; endpoints: string[] }>;
    expect(models.find((m) => m.id === GENERATION_MODEL)?.endpoints).toEqual(['/v1/chat/completions', '/v1/completions', '/v1/responses']);
    expect(models.find((m) => m.id === POOLING_MODEL)?.endpoints).toEqual(['/v1/embeddings', '/v1/score', '/v1/rerank']);
  });

  test('/v1/responses: Responses API bodies, a 400 in the error file, usage from input_tokens and output_tokens', async () => {
    const prompts = ['What is a GPU?', 'Name a river.', 'Count to three, slowly and with care.'];
    const lines = prompts.map((p, i) => line(`resp-${i}`, '/v1/responses', { model: GENERATION_MODEL, input: p, max_output_tokens: 5 }));
    // Input items, with the fault marker inside a message's input_text part.
    lines.splice(
      1,
      0,
      line('resp-bad', '/v1/responses', { model: GENERATION_MODEL, input: [{ role: 'user', content: [{ type: 'input_text', text: 'fail [[sim:400]]' }] }] }),
    );
    const { batch, output, errors } = await runBatch('/v1/responses', lines);

    expect(batch).toMatchObject({ status: 'completed', endpoint: '/v1/responses', model: GENERATION_MODEL, request_counts: { total: 4, completed: 3, failed: 1 } });
    expectEachCustomIdOnce(['resp-0', 'resp-bad', 'resp-1', 'resp-2'], output, errors);
    expect(output.map((l) => l.custom_id)).toEqual(['resp-0', 'resp-1', 'resp-2']);
    for (const l of output) {
      expect(l.response).toMatchObject({ status_code: 200, body: { object: 'response', model: GENERATION_MODEL, output: [{ type: 'message', role: 'assistant' }] } });
    }
    expect(errors).toEqual([expect.objectContaining({ custom_id: 'resp-bad', error: null, response: expect.objectContaining({ status_code: 400 }) })]);

    const inputTokens = prompts.reduce((n, p) => n + estimateTokens(p), 0);
    expect(sumOf(output, 'input_tokens')).toBe(inputTokens);
    expect(batch.usage).toEqual({ input_tokens: inputTokens, output_tokens: 3 * 5, total_tokens: inputTokens + 15 });
  });

  test('/v1/score: vLLM score bodies, a 400 in the error file, usage from prompt_tokens with no output', async () => {
    const pairs: Array<Record<string, unknown>> = [
      { text_1: 'what is a GPU', text_2: ['a graphics processor', 'a river'] },
      { queries: ['a', 'bb'], documents: ['ccc', 'dddd'] },
      { text_1: 'q', text_2: ['fine', 'fail [[sim:400]]'] },
      { data_1: 'the query', data_2: 'the document' },
    ];
    const { batch, output, errors } = await runBatch(
      '/v1/score',
      pairs.map((body, i) => line(`score-${i}`, '/v1/score', { model: POOLING_MODEL, ...body })),
    );

    expect(batch).toMatchObject({ status: 'completed', endpoint: '/v1/score', request_counts: { total: 4, completed: 3, failed: 1 } });
    expectEachCustomIdOnce(['score-0', 'score-1', 'score-2', 'score-3'], output, errors);
    expect(errors.map((l) => [l.custom_id, l.response?.status_code])).toEqual([['score-2', 400]]);
    const scores = output.map((l) => (l.response!.body as { data: Array<{ object: string }> }).data.length);
    expect(scores).toEqual([2, 2, 1]);

    const t = estimateTokens;
    const prompt = t('what is a GPU') * 2 + t('a graphics processor') + t('a river') + t('a') + t('ccc') + t('bb') + t('dddd') + t('the query') + t('the document');
    expect(sumOf(output, 'prompt_tokens')).toBe(prompt);
    expect(batch.usage).toEqual({ input_tokens: prompt, output_tokens: 0, total_tokens: prompt });
  });

  test('/v1/rerank: vLLM rerank bodies, a 400 in the error file, usage from prompt_tokens with no output', async () => {
    const documents = ['a graphics processor', 'a river', 'a cloud'];
    const { batch, output, errors } = await runBatch('/v1/rerank', [
      line('rerank-0', '/v1/rerank', { model: POOLING_MODEL, query: 'GPU', documents }),
      line('rerank-bad', '/v1/rerank', { model: POOLING_MODEL, query: 'GPU', documents: ['fine', 'fail [[sim:400]]'] }),
      line('rerank-1', '/v1/rerank', { model: POOLING_MODEL, query: 'what flows', documents, top_n: 1 }),
    ]);

    expect(batch).toMatchObject({ status: 'completed', endpoint: '/v1/rerank', request_counts: { total: 3, completed: 2, failed: 1 } });
    expectEachCustomIdOnce(['rerank-0', 'rerank-bad', 'rerank-1'], output, errors);
    expect(errors.map((l) => [l.custom_id, l.response?.status_code])).toEqual([['rerank-bad', 400]]);
    expect(output.map((l) => (l.response!.body as { results: unknown[] }).results.length)).toEqual([3, 1]);

    const docs = documents.reduce((n, d) => n + estimateTokens(d), 0);
    const prompt = 3 * estimateTokens('GPU') + docs + 3 * estimateTokens('what flows') + docs;
    expect(sumOf(output, 'prompt_tokens')).toBe(prompt);
    expect(batch.usage).toEqual({ input_tokens: prompt, output_tokens: 0, total_tokens: prompt });
  });

  test('/v1/embeddings runs on the pooling backend: its chunks follow the kind, not only the model', async () => {
    const generationRequests = generation.stats().requests;
    const { batch, output } = await runBatch('/v1/embeddings', [
      line('embed-0', '/v1/embeddings', { model: POOLING_MODEL, input: 'alpha beta' }),
      line('embed-1', '/v1/embeddings', { model: POOLING_MODEL, input: ['gamma', 'delta'] }),
    ]);
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 2, completed: 2, failed: 0 } });
    const prompt = estimateTokens('alpha beta') + estimateTokens('gamma') + estimateTokens('delta');
    expect(batch.usage).toEqual({ input_tokens: prompt, output_tokens: 0, total_tokens: prompt });
    expect(output).toHaveLength(2);
    // Every pooling request went to the pooling backend: the generation one has no such routes.
    expect(generation.stats().requests).toBe(generationRequests);
  });

  test.each([
    ['/v1/rerank', GENERATION_MODEL, { query: 'q', documents: ['d'] }, '/v1/chat/completions, /v1/completions, /v1/responses'],
    ['/v1/responses', POOLING_MODEL, { input: 'hi' }, '/v1/embeddings, /v1/rerank, /v1/score'],
  ] as const)('a %s batch for %s, which no live worker serves there, fails validation with endpoint_not_served', async (endpoint, model, body, servedAt) => {
    const { batch } = await runBatch(endpoint, [line('x-1', endpoint, { model, ...body }), line('x-2', endpoint, { model, ...body })]);
    expect(batch.status).toBe('failed');
    expect(batch.errors?.data).toEqual([
      {
        code: 'endpoint_not_served',
        line: 1,
        param: 'url',
        message: `The endpoint ${endpoint} is not served for the model "${model}" by any live GPU worker (it is served for ${servedAt}).`,
      },
    ]);
  });
});

/** VLLM_ENDPOINTS instead of discovery: the worker announces what it is told, whatever its backend publishes. */
describe('a GPU worker configured with VLLM_ENDPOINTS', () => {
  const MODEL = 'sim-endpoints-configured';
  let sut: ServiceUnderTest<RunningSimulator>;

  beforeAll(async () => {
    // The simulator serves (and publishes) every endpoint; the worker is told it serves pooling only.
    sut = await startServiceUnderTest({ simulator: { models: [MODEL], baseLatencyMs: 5 }, env: { VLLM_ENDPOINTS: 'pooling', MODEL_GRACE_SECONDS: '0' } });
  }, 120_000);

  afterAll(async () => {
    expect(await sut?.stop()).toBe(0);
  });

  test('announces the configured endpoints, runs a batch at one, and refuses one at another', async () => {
    const { client } = sut;
    const models = (await client.models.list()).data as unknown as Array<{ id: string; endpoints: string[] }>;
    expect(models.find((m) => m.id === MODEL)?.endpoints).toEqual(['/v1/embeddings', '/v1/score', '/v1/rerank']);

    const rerank = JSON.stringify({ custom_id: 'r', method: 'POST', url: '/v1/rerank', body: { model: MODEL, query: 'q', documents: ['a', 'b'] } });
    const ran = await client.batches.create({
      input_file_id: (await uploadJsonl(client, [rerank])).id,
      endpoint: '/v1/rerank' as '/v1/responses',
      completion_window: '24h',
    });
    expect(await waitForBatch(client, ran.id, (b) => TERMINAL.includes(b.status))).toMatchObject({
      status: 'completed',
      request_counts: { total: 1, completed: 1, failed: 0 },
    });

    const chat = JSON.stringify({ custom_id: 'c', method: 'POST', url: '/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: 'hi' }] } });
    const refused = await client.batches.create({ input_file_id: (await uploadJsonl(client, [chat])).id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const failed = await waitForBatch(client, refused.id, (b) => TERMINAL.includes(b.status));
    expect(failed).toMatchObject({ status: 'failed', errors: { data: [{ code: 'endpoint_not_served', line: 1, param: 'url' }] } });
    expect(sut.simulator.stats().requests).toBe(1);
  });
});
