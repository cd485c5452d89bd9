import { ConfigError } from '../../src/config/env';
import { defaultSimulatorOptions, loadSimulatorOptions, type SimulatorOptions } from '../../src/simulator/config';
import { startSimulator, startSimulatorFleet, type RunningFleet, type RunningSimulator } from '../../src/simulator/server';

const MODEL = 'sim-llama-3.1-8b-instruct';

const running: Array<RunningSimulator | RunningFleet> = [];

async function start(overrides: Parameters<typeof defaultSimulatorOptions>[0] = {}): Promise<RunningSimulator> {
  const sim = await startSimulator(defaultSimulatorOptions({ baseLatencyMs: 1, ...overrides }));
  running.push(sim);
  return sim;
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((sim) => sim.close()));
});

function post(sim: RunningSimulator, path: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(`${sim.baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
}

function chat(content: string, extra: Record<string, unknown> = {}) {
  return { model: MODEL, messages: [{ role: 'user', content }], ...extra };
}

// Response bodies are whatever the simulator sent; the assertions are what check their shape.
async function json(response: Response): Promise<any> {
  return response.json();
}

async function waitFor(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs}ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('simulator configuration', () => {
  it('uses the documented defaults when nothing is set', () => {
    const expected: SimulatorOptions = {
      models: [MODEL],
      endpoints: ['/v1/chat/completions', '/v1/completions', '/v1/responses', '/v1/embeddings', '/v1/score', '/v1/rerank'],
      capacity: 64,
      gauges: 'vllm',
      baseLatencyMs: 15,
      msPerOutputToken: 0.2,
      msPerPromptToken: 0.01,
      faults: { rate429: 0, rate500: 0, rateReset: 0, rateHang: 0, rateMalformed: 0 },
      retryAfterSeconds: 1,
      seed: 42,
    };
    expect(loadSimulatorOptions({})).toEqual(expected);
  });

  it('parses SIMULATOR_* variables', () => {
    const options = loadSimulatorOptions({
      SIMULATOR_MODELS: 'a, b',
      SIMULATOR_CAPACITY: '8',
      SIMULATOR_BASE_LATENCY_MS: '2.5',
      SIMULATOR_RATE_429: '0.25',
      SIMULATOR_RATE_HANG: '0.1',
      SIMULATOR_RETRY_AFTER_S: '3',
      SIMULATOR_SEED: '7',
      SIMULATOR_GAUGES: 'none',
    });
    expect(options).toMatchObject({ models: ['a', 'b'], capacity: 8, baseLatencyMs: 2.5, retryAfterSeconds: 3, seed: 7, gauges: 'none' });
    expect(options.faults).toMatchObject({ rate429: 0.25, rateHang: 0.1, rate500: 0 });
  });

  it('serves a kind of endpoints, as a vLLM server of a generation or a pooling model does', () => {
    expect(loadSimulatorOptions({ SIMULATOR_ENDPOINTS: 'pooling' }).endpoints).toEqual(['/v1/embeddings', '/v1/score', '/v1/rerank']);
    expect(loadSimulatorOptions({ SIMULATOR_ENDPOINTS: '/v1/rerank, generation' }).endpoints).toEqual([
      '/v1/chat/completions',
      '/v1/completions',
      '/v1/responses',
      '/v1/rerank',
    ]);
    expect(() => loadSimulatorOptions({ SIMULATOR_ENDPOINTS: '/v1/classify' })).toThrow(ConfigError);
  });

  it('rejects rates outside 0..1 or summing past 1', () => {
    expect(() => loadSimulatorOptions({ SIMULATOR_RATE_500: '1.5' })).toThrow(ConfigError);
    expect(() => loadSimulatorOptions({ SIMULATOR_RATE_500: '0.6', SIMULATOR_RATE_429: '0.6' })).toThrow(ConfigError);
    expect(() => loadSimulatorOptions({ SIMULATOR_CAPACITY: '0' })).toThrow(ConfigError);
    expect(() => loadSimulatorOptions({ SIMULATOR_GAUGES: 'triton' })).toThrow(ConfigError);
  });
});

describe('simulator protocol', () => {
  it('lists models, answers health and stats', async () => {
    const sim = await start({ models: ['m1', 'm2'] });
    expect(sim.baseUrl).toBe(`http://127.0.0.1:${sim.port}/v1`);
    const models = await json(await fetch(`${sim.baseUrl}/models`));
    expect(models).toEqual({
      object: 'list',
      data: [
        { id: 'm1', object: 'model', created: expect.any(Number), owned_by: 'vllm-simulator' },
        { id: 'm2', object: 'model', created: expect.any(Number), owned_by: 'vllm-simulator' },
      ],
    });
    const root = sim.baseUrl.replace(/\/v1$/, '');
    expect((await fetch(`${root}/health`)).status).toBe(200);
    const stats = await json(await fetch(`${root}/sim/stats`));
    expect(stats).toMatchObject({ requests: 0, completed: 0, inService: 0, peakInService: 0 });
  });

  it('answers a chat completion in the OpenAI shape, deterministically', async () => {
    const sim = await start();
    const body = chat('Tell me about GPUs', { max_tokens: 10 });
    const first = await post(sim, '/chat/completions', body, { headers: { 'content-type': 'application/json', 'x-request-id': 'abc-1' } });
    expect(first.status).toBe(200);
    expect(first.headers.get('x-request-id')).toBe('abc-1');
    const a = await json(first);
    expect(a).toEqual({
      id: expect.stringMatching(/^chatcmpl-[0-9a-f]+$/),
      object: 'chat.completion',
      created: expect.any(Number),
      model: MODEL,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: expect.stringMatching(/^Simulated reply [0-9a-f]{8}: /) },
          finish_reason: 'length',
          logprobs: null,
        },
      ],
      usage: { prompt_tokens: Math.ceil('Tell me about GPUs'.length / 4), completion_tokens: 10, total_tokens: 5 + 10 },
    });
    expect(Math.abs(a.created - Date.now() / 1000)).toBeLessThan(60);

    const second = await post(sim, '/chat/completions', body);
    expect(second.headers.get('x-request-id')).toMatch(/.+/);
    const b = await json(second);
    expect(b.choices[0].message.content).toBe(a.choices[0].message.content);
    expect(b.id).not.toBe(a.id);

    const other = await json(await post(sim, '/chat/completions', chat('Something else', { max_tokens: 10 })));
    expect(other.choices[0].message.content).not.toBe(a.choices[0].message.content);
    expect(sim.stats()).toMatchObject({ requests: 3, completed: 3 });
  });

  it('answers text completions, one choice per prompt and n', async () => {
    const sim = await start();
    const response = await post(sim, '/completions', { model: MODEL, prompt: ['one', 'two'], n: 2, max_tokens: 4 });
    expect(response.status).toBe(200);
    const body = await json(response);
    expect(body).toMatchObject({ id: expect.stringMatching(/^cmpl-[0-9a-f]+$/), object: 'text_completion', model: MODEL });
    expect(body.choices.map((c: { index: number }) => c.index)).toEqual([0, 1, 2, 3]);
    for (const choice of body.choices) {
      expect(choice).toEqual({ index: expect.any(Number), text: expect.any(String), finish_reason: 'length', logprobs: null });
    }
    expect(body.usage).toEqual({ prompt_tokens: 2, completion_tokens: 16, total_tokens: 18 });
  });

  it('answers embeddings as floats or base64, deterministic per input', async () => {
    const sim = await start();
    const floats = await json(await post(sim, '/embeddings', { model: MODEL, input: ['alpha', 'beta', 'alpha'] }));
    expect(floats).toMatchObject({ object: 'list', model: MODEL, usage: { prompt_tokens: 2 + 1 + 2, total_tokens: 5 } });
    expect(floats.data).toHaveLength(3);
    const [alpha, beta, alphaAgain] = floats.data;
    expect(alpha).toEqual({ object: 'embedding', index: 0, embedding: expect.any(Array) });
    expect(alpha.embedding).toHaveLength(16);
    expect(alphaAgain.embedding).toEqual(alpha.embedding);
    expect(beta.embedding).not.toEqual(alpha.embedding);

    const sized = await json(await post(sim, '/embeddings', { model: MODEL, input: 'alpha', dimensions: 4, encoding_format: 'base64' }));
    // Copy out of Node's shared buffer pool so the floats start at offset 0.
    const decoded = new Float32Array(Uint8Array.from(Buffer.from(sized.data[0].embedding, 'base64')).buffer);
    expect(decoded).toHaveLength(4);
    expect(Math.hypot(...decoded)).toBeCloseTo(1, 5);
  });

  it('answers the Responses API: one output_text message, usage as input_tokens and output_tokens', async () => {
    const sim = await start();
    const response = await post(sim, '/responses', { model: MODEL, instructions: 'Be brief.', input: 'Tell me about GPUs', max_output_tokens: 6 });
    expect(response.status).toBe(200);
    const body = await json(response);
    const inputTokens = Math.ceil('Be brief.\nTell me about GPUs'.length / 4);
    expect(body).toMatchObject({
      id: expect.stringMatching(/^resp_[0-9a-f]+$/),
      object: 'response',
      created_at: expect.any(Number),
      model: MODEL,
      status: 'incomplete',
      incomplete_details: { reason: 'max_output_tokens' },
      output: [{ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: expect.stringMatching(/^Simulated reply /), annotations: [] }] }],
      usage: {
        input_tokens: inputTokens,
        output_tokens: 6,
        total_tokens: inputTokens + 6,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens_details: { reasoning_tokens: 0 },
      },
    });
    // A list of input items (message content as text or input_text parts) reads the same text.
    const items = await json(
      await post(sim, '/responses', { model: MODEL, input: [{ role: 'user', content: [{ type: 'input_text', text: 'Tell me about GPUs' }] }], max_output_tokens: 6 }),
    );
    expect(items.usage.input_tokens).toBe(Math.ceil('Tell me about GPUs'.length / 4));
  });

  it("answers vLLM's score: one score per pair, 1:N and N:N, every side named as vLLM accepts", async () => {
    const sim = await start();
    const oneToMany = await json(await post(sim, '/score', { model: MODEL, text_1: 'what is a GPU', text_2: ['a graphics processor', 'a river'] }));
    const tokens = (a: string, b: string) => Math.ceil(a.length / 4) + Math.ceil(b.length / 4);
    const prompt = tokens('what is a GPU', 'a graphics processor') + tokens('what is a GPU', 'a river');
    expect(oneToMany).toMatchObject({
      id: expect.stringMatching(/^score-/),
      object: 'list',
      model: MODEL,
      data: [
        { index: 0, object: 'score', score: expect.any(Number) },
        { index: 1, object: 'score', score: expect.any(Number) },
      ],
      usage: { prompt_tokens: prompt, total_tokens: prompt, completion_tokens: 0 },
    });
    for (const { score } of oneToMany.data) expect(score > 0 && score < 1).toBe(true);
    const pairwise = await json(await post(sim, '/score', { model: MODEL, queries: ['what is a GPU', 'what is a GPU'], documents: ['a graphics processor', 'a river'] }));
    expect(pairwise.data.map((d: { score: number }) => d.score)).toEqual(oneToMany.data.map((d: { score: number }) => d.score));
    const mismatched = await post(sim, '/score', { model: MODEL, text_1: ['a', 'b'], text_2: ['c', 'd', 'e'] });
    expect(mismatched.status).toBe(400);
    expect((await post(sim, '/score', { model: MODEL, text_1: 'a' })).status).toBe(400);
  });

  it("answers vLLM's rerank: documents best first, top_n of them, usage in prompt tokens", async () => {
    const sim = await start();
    const documents = ['a graphics processor', 'a river', 'a cloud', 'a tensor'];
    const all = await json(await post(sim, '/rerank', { model: MODEL, query: 'GPU', documents }));
    const prompt = documents.reduce((n, d) => n + Math.ceil('GPU'.length / 4) + Math.ceil(d.length / 4), 0);
    expect(all).toMatchObject({ id: expect.stringMatching(/^rerank-/), model: MODEL, usage: { prompt_tokens: prompt, total_tokens: prompt } });
    expect(all.results).toHaveLength(4);
    const scores = all.results.map((r: { relevance_score: number }) => r.relevance_score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    for (const result of all.results)
      expect(result).toEqual({ index: expect.any(Number), document: { text: documents[result.index] }, relevance_score: expect.any(Number) });
    const top = await json(await post(sim, '/rerank', { model: MODEL, query: 'GPU', documents, top_n: 2 }));
    expect(top.results).toEqual(all.results.slice(0, 2));
  });

  it('serves only its configured endpoints, and lists them in /openapi.json as vLLM does', async () => {
    const sim = await start({ endpoints: ['/v1/embeddings', '/v1/score', '/v1/rerank'] });
    const root = sim.baseUrl.replace(/\/v1$/, '');
    const document = await json(await fetch(`${root}/openapi.json`));
    expect(Object.keys(document.paths)).toEqual(['/v1/embeddings', '/v1/score', '/v1/rerank']);
    expect(document.paths['/v1/score'].post).toBeDefined();
    expect((await post(sim, '/chat/completions', chat('hi'))).status).toBe(404);
    expect((await post(sim, '/responses', { model: MODEL, input: 'hi' })).status).toBe(404);
    expect((await post(sim, '/rerank', { model: MODEL, query: 'q', documents: ['d'] })).status).toBe(200);
  });

  it('returns OpenAI-shaped errors for bad requests, unknown models and routes', async () => {
    const sim = await start();
    const cases: Array<[string, unknown, number, string | null]> = [
      ['/chat/completions', '{not json', 400, null],
      ['/chat/completions', { model: MODEL }, 400, 'messages'],
      ['/completions', { model: MODEL }, 400, 'prompt'],
      ['/embeddings', { model: MODEL }, 400, 'input'],
      ['/chat/completions', chat('hi', { stream: true }), 400, 'stream'],
      ['/responses', { model: MODEL }, 400, 'input'],
      ['/responses', { model: MODEL, input: 'hi', background: true }, 400, 'background'],
      ['/rerank', { model: MODEL, query: 'q' }, 400, 'documents'],
    ];
    for (const [path, body, status, param] of cases) {
      const response = await post(sim, path, body);
      expect(response.status).toBe(status);
      expect(await json(response)).toEqual({
        error: { message: expect.any(String), type: 'invalid_request_error', param, code: null },
      });
    }

    const unknownModel = await post(sim, '/chat/completions', { ...chat('hi'), model: 'gpt-nope' });
    expect(unknownModel.status).toBe(404);
    expect((await json(unknownModel)).error).toMatchObject({ code: 'model_not_found', param: 'model', type: 'invalid_request_error' });

    const unknownRoute = await post(sim, '/nothing-here', {});
    expect(unknownRoute.status).toBe(404);
    expect((await json(unknownRoute)).error.type).toBe('invalid_request_error');
    expect((await fetch(`${sim.baseUrl}/chat/completions`)).status).toBe(404);
  });
});

describe('simulator capacity', () => {
  it('serves at most `capacity` requests at once and queues the rest in order', async () => {
    const sim = await start({ capacity: 2, baseLatencyMs: 200, msPerOutputToken: 0, msPerPromptToken: 0 });
    const startedAt = Date.now();
    const pending = Array.from({ length: 6 }, (_, i) => post(sim, '/chat/completions', chat(`request ${i}`)));
    await waitFor(() => sim.stats().queued === 4 && sim.stats().inService === 2);
    const responses = await Promise.all(pending);
    const elapsed = Date.now() - startedAt;

    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    // Three waves of two, 200ms each.
    expect(elapsed).toBeGreaterThanOrEqual(580);
    expect(sim.stats()).toMatchObject({ requests: 6, completed: 6, inService: 0, queued: 0, peakInService: 2 });
  });

  it('drops a queued request whose client gave up', async () => {
    const sim = await start({ capacity: 1, baseLatencyMs: 300, msPerOutputToken: 0, msPerPromptToken: 0 });
    const first = post(sim, '/chat/completions', chat('first'));
    await waitFor(() => sim.stats().inService === 1);
    const abandoned = post(sim, '/chat/completions', chat('second'), { signal: AbortSignal.timeout(50) });
    await expect(abandoned).rejects.toThrow();
    await waitFor(() => sim.stats().queued === 0);
    expect((await first).status).toBe(200);
    expect(sim.stats()).toMatchObject({ completed: 1, inService: 0 });
  });
});

describe('simulator faults', () => {
  it('answers [[sim:429]] with Retry-After and rate_limit_exceeded', async () => {
    const sim = await start({ retryAfterSeconds: 7 });
    const response = await post(sim, '/chat/completions', chat('please [[sim:429]]'));
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('7');
    expect((await json(response)).error).toMatchObject({ code: 'rate_limit_exceeded', message: expect.any(String) });
    expect(sim.stats().faults['429']).toBe(1);
  });

  it('answers [[sim:500]] and [[sim:400]] with OpenAI errors', async () => {
    const sim = await start();
    const serverError = await post(sim, '/completions', { model: MODEL, prompt: 'x [[sim:500]]' });
    expect(serverError.status).toBe(500);
    expect((await json(serverError)).error.type).toBe('server_error');
    const badRequest = await post(sim, '/embeddings', { model: MODEL, input: ['ok', '[[sim:400]]'] });
    expect(badRequest.status).toBe(400);
    expect((await json(badRequest)).error.type).toBe('invalid_request_error');
    expect(sim.stats().faults).toMatchObject({ '500': 1, '400': 1 });
    expect(sim.stats().completed).toBe(0);
  });

  it('looks for markers in the texts of responses, score and rerank bodies', async () => {
    const sim = await start();
    expect((await post(sim, '/responses', { model: MODEL, input: [{ role: 'user', content: 'x [[sim:400]]' }] })).status).toBe(400);
    expect((await post(sim, '/score', { model: MODEL, text_1: 'q', text_2: ['fine', 'y [[sim:400]]'] })).status).toBe(400);
    expect((await post(sim, '/score', { model: MODEL, queries: 'q [[sim:500]]', items: ['fine'] })).status).toBe(500);
    expect((await post(sim, '/rerank', { model: MODEL, query: 'q', documents: ['fine', 'z [[sim:400]]'] })).status).toBe(400);
    expect((await post(sim, '/rerank', { model: MODEL, query: 'q [[sim:400]]', documents: ['fine'] })).status).toBe(400);
    expect(sim.stats().faults).toMatchObject({ '400': 4, '500': 1 });
  });

  it('resets the connection on [[sim:reset]]', async () => {
    const sim = await start();
    await expect(post(sim, '/chat/completions', chat('[[sim:reset]]'))).rejects.toThrow();
    expect(sim.stats().faults.reset).toBe(1);
  });

  it('sends truncated JSON on [[sim:malformed]]', async () => {
    const sim = await start();
    const response = await post(sim, '/chat/completions', chat('[[sim:malformed]]'));
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text.startsWith('{"id":"chatcmpl-')).toBe(true);
    expect(() => JSON.parse(text)).toThrow();
    expect(sim.stats().faults.malformed).toBe(1);
  });

  it('never answers [[sim:hang]], and close() still returns promptly', async () => {
    const sim = await start();
    await expect(post(sim, '/chat/completions', chat('[[sim:hang]]'), { signal: AbortSignal.timeout(300) })).rejects.toThrow(/aborted|timeout/i);

    const stillHanging = post(sim, '/chat/completions', chat('again [[sim:hang]]'));
    await waitFor(() => sim.stats().faults.hang === 2);
    const closingStarted = Date.now();
    await sim.close();
    expect(Date.now() - closingStarted).toBeLessThan(1000);
    await expect(stillHanging).rejects.toThrow();
    running.splice(running.indexOf(sim), 1);
  });

  it('applies a counted marker only to the first sightings of that exact body', async () => {
    const sim = await start();
    const body = chat('retry me [[sim:500x2]]');
    const statuses: number[] = [];
    for (let i = 0; i < 3; i += 1) statuses.push((await post(sim, '/chat/completions', body)).status);
    expect(statuses).toEqual([500, 500, 200]);
    // A different body carrying the same marker has its own count.
    expect((await post(sim, '/chat/completions', chat('another [[sim:500x2]]'))).status).toBe(500);
    expect(sim.stats().faults['500']).toBe(3);
  });

  it('injects configured fault rates reproducibly from the seed', async () => {
    const always500 = await start({ faults: { rate500: 1 } });
    expect((await post(always500, '/chat/completions', chat('hi'))).status).toBe(500);

    const statusesFor = async (sim: RunningSimulator) => {
      const statuses: number[] = [];
      for (let i = 0; i < 20; i += 1) statuses.push((await post(sim, '/chat/completions', chat(`q${i}`))).status);
      return statuses;
    };
    const a = await statusesFor(await start({ faults: { rate429: 0.5 }, seed: 3 }));
    const b = await statusesFor(await start({ faults: { rate429: 0.5 }, seed: 3 }));
    expect(a).toEqual(b);
    expect(a).toContain(429);
    expect(a).toContain(200);
  });
});

async function startFleet(gpus: number, overrides: Parameters<typeof defaultSimulatorOptions>[0] = {}): Promise<RunningFleet> {
  const fleet = await startSimulatorFleet(defaultSimulatorOptions({ baseLatencyMs: 1, ...overrides }), gpus);
  running.push(fleet);
  return fleet;
}

const root = (sim: RunningSimulator) => sim.baseUrl.replace(/\/v1$/, '');

describe('simulator gauges', () => {
  it("exports vLLM's, SGLang's or TGI's scheduler gauges at /metrics, or none (404) with gauges `none`", async () => {
    const withGauges = await start({ models: ['m1'] });
    const metrics = await fetch(`${root(withGauges)}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('vllm:num_requests_running{model_name="m1"} 0');
    expect(await (await fetch(`${root(await start({ gauges: 'sglang' }))}/metrics`)).text()).toContain('sglang:num_queue_reqs{model_name=');
    expect(await (await fetch(`${root(await start({ gauges: 'tgi' }))}/metrics`)).text()).toContain('tgi_queue_size{model_name=');
    const without = await start({ gauges: 'none' });
    expect((await fetch(`${root(without)}/metrics`)).status).toBe(404);
    expect((await post(without, '/chat/completions', chat('still serves'))).status).toBe(200);
  });
});

describe('simulator fleet', () => {
  it('serves each GPU on its own port with its own capacity, and the fleet stats per GPU and in total', async () => {
    const fleet = await startFleet(3, { capacity: 1, baseLatencyMs: 300, msPerOutputToken: 0, msPerPromptToken: 0 });
    const ports = fleet.gpus.map((gpu) => gpu.port);
    expect(new Set(ports).size).toBe(3);
    // Two requests on GPU 0 (one queued behind its single slot), one on GPU 2.
    const pending = [
      post(fleet.gpus[0]!, '/chat/completions', chat('a')),
      post(fleet.gpus[0]!, '/chat/completions', chat('b')),
      post(fleet.gpus[2]!, '/chat/completions', chat('c')),
    ];
    await waitFor(() => fleet.stats().total.requests === 3);
    const during = await json(await fetch(`${root(fleet.gpus[1]!)}/sim/fleet`));
    expect(during.gpus.map((g: { stats: { inService: number; queued: number } }) => [g.stats.inService, g.stats.queued])).toEqual([
      [1, 1],
      [0, 0],
      [1, 0],
    ]);
    expect(during.total).toMatchObject({ requests: 3, inService: 2, queued: 1, gpusUp: 3 });
    expect(during.gpus[2].baseUrl).toBe(fleet.gpus[2]!.baseUrl);
    expect((await Promise.all(pending)).map((r) => r.status)).toEqual([200, 200, 200]);
    // Each GPU's own /sim/stats and /metrics are its own.
    expect(await json(await fetch(`${root(fleet.gpus[0]!)}/sim/stats`))).toMatchObject({ requests: 2, completed: 2 });
    expect(await json(await fetch(`${root(fleet.gpus[1]!)}/sim/stats`))).toMatchObject({ requests: 0, completed: 0 });
    expect(fleet.stats().total).toMatchObject({ requests: 3, completed: 3, inService: 0, peakInService: 2 });
  });

  it('takes a GPU down as a crash (in-flight reset, then refused) and brings it back on its port', async () => {
    const fleet = await startFleet(2, { baseLatencyMs: 5000, msPerOutputToken: 0, msPerPromptToken: 0 });
    const [alive, failing] = [fleet.gpus[0]!, fleet.gpus[1]!];
    const inFlight = post(failing, '/chat/completions', chat('lost'));
    await waitFor(() => failing.stats().inService === 1);
    const down = await fetch(`${root(alive)}/sim/gpus/1/down?mode=crash`, { method: 'POST' });
    expect(await json(down)).toEqual({ gpu: 1, down: 'crash' });
    await expect(inFlight).rejects.toThrow();
    await expect(fetch(`${failing.baseUrl}/models`)).rejects.toThrow();
    expect(fleet.stats().total).toMatchObject({ gpusUp: 1, inService: 0 });
    expect((await json(await fetch(`${root(alive)}/sim/fleet`))).gpus[1].down).toBe('crash');

    expect(await json(await fetch(`${root(alive)}/sim/gpus/1/up`, { method: 'POST' }))).toEqual({ gpu: 1, down: null });
    expect((await fetch(`${failing.baseUrl}/models`)).status).toBe(200);
    expect(failing.port).toBe(fleet.gpus[1]!.port);
    expect(fleet.stats().total.gpusUp).toBe(2);
  });

  it('takes a GPU down as 503: in flight and new requests answered 503, the control routes still served', async () => {
    const fleet = await startFleet(2, { baseLatencyMs: 1000, msPerOutputToken: 0, msPerPromptToken: 0 });
    const failing = fleet.gpus[1]!;
    const inFlight = post(failing, '/chat/completions', chat('lost'));
    await waitFor(() => failing.stats().inService === 1);
    expect((await fetch(`${root(failing)}/sim/gpus/1/down?mode=503`, { method: 'POST' })).status).toBe(200);
    expect((await inFlight).status).toBe(503);
    expect((await post(failing, '/chat/completions', chat('refused'))).status).toBe(503);
    expect((await fetch(`${failing.baseUrl}/models`)).status).toBe(503);
    await failing.up();
    expect((await post(failing, '/chat/completions', chat('served'))).status).toBe(200);
  });

  it('refuses unknown GPUs and modes', async () => {
    const fleet = await startFleet(1);
    expect((await fetch(`${root(fleet.gpus[0]!)}/sim/gpus/5/down`, { method: 'POST' })).status).toBe(404);
    expect((await fetch(`${root(fleet.gpus[0]!)}/sim/gpus/0/down?mode=melt`, { method: 'POST' })).status).toBe(400);
    expect(fleet.gpus[0]!.downMode).toBeNull();
  });
});
