import { BackendPool } from '../../src/inference/backends';
import { backendTarget } from '../../src/inference/target';
import { InferenceClient } from '../../src/inference/client';
import { defaultSimulatorOptions } from '../../src/simulator/config';
import { startSimulator, type RunningSimulator } from '../../src/simulator/server';
import { inferenceRequest } from '../support/fixtures';
import { freePort, stablePort } from '../support/ports';
import { waitFor } from '../support/wait';

const MODEL = 'sim-llama-3.1-8b-instruct';
const HEALTH = { failureThreshold: 2, probeIntervalMs: 50, maxProbeIntervalMs: 200 };

const running: Array<RunningSimulator | BackendPool> = [];
async function simulator(port = 0, models = [MODEL]): Promise<RunningSimulator> {
  const sim = await startSimulator(defaultSimulatorOptions({ baseLatencyMs: 1, models }), port);
  running.push(sim);
  return sim;
}
function pool(urls: string[], maxDepth = 2): BackendPool {
  const backends = new BackendPool(
    urls.map((url) => backendTarget(url, undefined)),
    { maxDepth, health: HEALTH },
  );
  running.push(backends);
  backends.start();
  return backends;
}
const inRotation = (backends: BackendPool) => backends.backends.filter((b) => b.health.healthy).map((b) => b.baseUrl);

afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => ('stop' in r ? r.stop() : r.close())));
});

describe('BackendPool', () => {
  test('spreads work over the backends in rotation, least busy first, and never past a backend’s depth', async () => {
    const [a, b] = [await simulator(), await simulator()];
    const backends = pool([a.baseUrl, b.baseUrl]);
    await waitFor(() => inRotation(backends).length === 2, { timeoutMs: 5_000 });
    const leases = await Promise.all([backends.acquire(), backends.acquire(), backends.acquire(), backends.acquire()]);
    expect(leases.map((l) => l.backend.baseUrl).sort()).toEqual([a.baseUrl, a.baseUrl, b.baseUrl, b.baseUrl].sort());

    // Both full: the next caller waits until a slot frees, and gets that backend.
    let fifth: string | undefined;
    const waiting = backends.acquire().then((l) => (fifth = l.backend.baseUrl));
    await new Promise((resolve) => setImmediate(resolve));
    expect(fifth).toBeUndefined();
    leases.find((l) => l.backend.baseUrl === a.baseUrl)!.release();
    leases[0].release(); // counted once, however often it is called
    await waiting;
    expect(fifth).toBe(a.baseUrl);
    expect(backends.backends.map((x) => x.slots.active)).toEqual([2, 2]);
  });

  test("a request goes only to backends serving its endpoint, learnt from each one's /openapi.json, or as VLLM_ENDPOINTS says", async () => {
    // The same model name served for generation by one vLLM and for pooling by another.
    const generate = await startSimulator(defaultSimulatorOptions({ baseLatencyMs: 1, endpoints: ['/v1/chat/completions', '/v1/completions', '/v1/responses'] }));
    const pooling = await startSimulator(defaultSimulatorOptions({ baseLatencyMs: 1, endpoints: ['/v1/embeddings', '/v1/score', '/v1/rerank'] }));
    running.push(generate, pooling);
    const backends = pool([generate.baseUrl, pooling.baseUrl], 4);
    await waitFor(() => inRotation(backends).length === 2, { timeoutMs: 5_000 });
    expect(backends.backends.map((b) => b.health.endpoints)).toEqual([
      ['/v1/chat/completions', '/v1/completions', '/v1/responses'],
      ['/v1/embeddings', '/v1/score', '/v1/rerank'],
    ]);
    expect(backends.endpointsOf('no-such-model')).toBeUndefined();
    expect([...backends.endpointsOf(MODEL)!].sort()).toEqual(['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/rerank', '/v1/responses', '/v1/score']);
    const rerank = await Promise.all(Array.from({ length: 4 }, () => backends.acquire(undefined, undefined, MODEL, '/v1/rerank')));
    expect(rerank.map((l) => l.backend.baseUrl)).toEqual(Array(4).fill(pooling.baseUrl));
    const responses = await backends.acquire(undefined, undefined, MODEL, '/v1/responses');
    expect(responses.backend.baseUrl).toBe(generate.baseUrl);
    expect(backends.queueState(MODEL, ['/v1/embeddings'])).toEqual({ waiting: 0, depth: backends.backends[1]!.slots.capacity });

    // Configured, the endpoints are what VLLM_ENDPOINTS says, whatever the servers publish.
    const configured = new BackendPool([backendTarget(pooling.baseUrl, undefined)], { maxDepth: 4, health: HEALTH, endpoints: ['/v1/embeddings'] });
    running.push(configured);
    configured.start();
    await waitFor(() => inRotation(configured).length === 1, { timeoutMs: 5_000 });
    expect(configured.backends[0]!.health.endpoints).toEqual(['/v1/embeddings']);
    expect(configured.serving(MODEL, ['/v1/rerank'])).toBe(false);
    await expect(configured.acquire(AbortSignal.timeout(300), undefined, MODEL, '/v1/rerank')).rejects.toThrow();
  });

  test('a request goes only to backends that list its model; with none in rotation it waits', async () => {
    const [chat, embed] = [await simulator(0, ['chat-model']), await simulator(0, ['embed-model'])];
    const backends = pool([chat.baseUrl, embed.baseUrl], 4);
    await waitFor(() => inRotation(backends).length === 2, { timeoutMs: 5_000 });
    const leases = await Promise.all(Array.from({ length: 4 }, () => backends.acquire(undefined, undefined, 'embed-model')));
    expect(leases.map((l) => l.backend.baseUrl)).toEqual(Array(4).fill(embed.baseUrl));
    expect(backends.serving('embed-model')).toBe(true);
    expect(backends.serving('no-such-model')).toBe(false);
    const abort = AbortSignal.timeout(300);
    await expect(backends.acquire(abort, undefined, 'no-such-model')).rejects.toThrow();
  });

  test('a backend that does not answer is never picked; with none in rotation callers wait until one answers', async () => {
    const port = await stablePort();
    const dead = `http://127.0.0.1:${await freePort()}/v1`;
    const late = `http://127.0.0.1:${port}/v1`;
    const backends = pool([dead, late]);
    let granted: string | undefined;
    const waiting = backends.acquire().then((lease) => (granted = lease.backend.baseUrl));
    await new Promise((resolve) => setTimeout(resolve, 300)); // several probe rounds: nobody answers
    expect(granted).toBeUndefined();
    expect(backends.backends.map((b) => b.health.state)).toEqual(['starting', 'starting']);

    await simulator(port);
    await waiting;
    expect(granted).toBe(late);
    expect(backends.models).toEqual([MODEL]);
  });
});

describe('InferenceClient during an outage', () => {
  test('requests wait out a backend answering 503 for longer than their retry budget, without spending attempts', async () => {
    const sim = await simulator();
    const backends = pool([sim.baseUrl], 8);
    await waitFor(() => inRotation(backends).length === 1, { timeoutMs: 5_000 });
    const client = new InferenceClient({ pool: backends, timeoutMs: 2_000, attempts: { maxAttempts: 2, initialDelayMs: 10, maxDelayMs: 20 } });
    const body = (i: number) => ({ model: MODEL, messages: [{ role: 'user', content: `hi ${i}` }], max_tokens: 4 });

    sim.setAvailable(false);
    const outcomes = Promise.all(Array.from({ length: 8 }, (_, i) => client.execute('/v1/chat/completions', inferenceRequest(body(i)), AbortSignal.timeout(30_000))));
    await waitFor(() => backends.backends[0]!.health.state === 'down', { timeoutMs: 5_000 });
    // Far longer than 2 attempts 20 ms apart: only waiting gets a request through this.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    sim.setAvailable(true);
    for (const outcome of await outcomes) expect(outcome).toMatchObject({ kind: 'response', statusCode: 200 });
  });

  test('a backend flapping between 503s and service costs no request, although in-flight requests still succeed as it starts refusing', async () => {
    // Latency long enough that requests sent before each flip keep succeeding among the first 503s:
    // those successes prove nothing about the server, the breaker's opening does.
    const sim = await startSimulator(defaultSimulatorOptions({ baseLatencyMs: 40, models: [MODEL] }));
    running.push(sim);
    const backends = new BackendPool([backendTarget(sim.baseUrl, undefined)], { maxDepth: 16, health: { ...HEALTH, failureThreshold: 5 } });
    running.push(backends);
    backends.start();
    await waitFor(() => inRotation(backends).length === 1, { timeoutMs: 5_000 });
    const client = new InferenceClient({ pool: backends, timeoutMs: 2_000, attempts: { maxAttempts: 2, initialDelayMs: 10, maxDelayMs: 20 } });
    const body = (i: number) => ({ model: MODEL, messages: [{ role: 'user', content: `hi ${i}` }], max_tokens: 4 });

    let flaps = 0;
    const flapping = setInterval(() => sim.setAvailable(++flaps % 2 === 0), 150);
    try {
      const outcomes = await Promise.all(
        Array.from({ length: 300 }, (_, i) => client.execute('/v1/chat/completions', inferenceRequest(body(i)), AbortSignal.timeout(60_000))),
      );
      expect(flaps).toBeGreaterThanOrEqual(4);
      expect(outcomes.filter((o) => o.kind !== 'response' || o.statusCode !== 200)).toEqual([]);
    } finally {
      clearInterval(flapping);
    }
  });

  test('a request the server keeps failing while it serves others is charged and gives up', async () => {
    const sim = await simulator();
    const backends = pool([sim.baseUrl], 8);
    await waitFor(() => inRotation(backends).length === 1, { timeoutMs: 5_000 });
    const client = new InferenceClient({ pool: backends, timeoutMs: 2_000, attempts: { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 20 } });
    const chat = (content: string) => ({ model: MODEL, messages: [{ role: 'user', content }], max_tokens: 4 });
    const poison = client.execute('/v1/chat/completions', inferenceRequest(chat('always [[sim:500]]')), AbortSignal.timeout(30_000));
    const others = Array.from({ length: 100 }, (_, i) => client.execute('/v1/chat/completions', inferenceRequest(chat(`fine ${i}`)), AbortSignal.timeout(30_000)));
    expect(await poison).toMatchObject({ kind: 'error', code: 'server_error', message: expect.stringContaining('gave up after 3 attempts') });
    for (const outcome of await Promise.all(others)) expect(outcome).toMatchObject({ kind: 'response', statusCode: 200 });
  });

  test('a lone request the server keeps failing gives up too: failures with no other traffic are the request’s', async () => {
    const sim = await simulator();
    const backends = pool([sim.baseUrl], 8);
    await waitFor(() => inRotation(backends).length === 1, { timeoutMs: 5_000 });
    const client = new InferenceClient({ pool: backends, timeoutMs: 2_000, attempts: { maxAttempts: 2, initialDelayMs: 10, maxDelayMs: 20 } });
    const outcome = await client.execute(
      '/v1/chat/completions',
      inferenceRequest({ model: MODEL, messages: [{ role: 'user', content: 'x [[sim:500]]' }] }),
      AbortSignal.timeout(30_000),
    );
    expect(outcome).toMatchObject({ kind: 'error', code: 'server_error' });
  });

  test('without scheduler gauges, a 512-deep backend is found in about a round trip from its latencies, and kept full', async () => {
    const sim = await startSimulator(defaultSimulatorOptions({ baseLatencyMs: 600, msPerOutputToken: 0, msPerPromptToken: 0, capacity: 512, gauges: 'none' }));
    running.push(sim);
    const backends = pool([sim.baseUrl], 1024);
    await waitFor(() => inRotation(backends).length === 1, { timeoutMs: 5_000 });
    const client = new InferenceClient({ pool: backends, timeoutMs: 30_000, attempts: { maxAttempts: 2, initialDelayMs: 10, maxDelayMs: 20 } });
    const body = (i: number) => ({ model: MODEL, messages: [{ role: 'user', content: `hi ${i}` }], max_tokens: 4 });
    const outcomes = Promise.all(Array.from({ length: 4_000 }, (_, i) => client.execute('/v1/chat/completions', inferenceRequest(body(i)), AbortSignal.timeout(60_000))));
    // 256 once /metrics turns out to have no gauges; the first answers (0.6 s) show no queue, and the depth leaps to the work waiting here.
    await waitFor(() => backends.backends[0]!.depth.depth >= 512, { timeoutMs: 10_000 });
    // Counted in answers, not in time (a busy machine stretches time): found within the first round of 256.
    const answeredBeforeFound = sim.stats().completed;
    await waitFor(() => sim.stats().inService === 512, { timeoutMs: 5_000 });
    for (const outcome of await outcomes) expect(outcome).toMatchObject({ kind: 'response', statusCode: 200 });
    expect(answeredBeforeFound).toBeLessThanOrEqual(256);
    expect(sim.stats().peakInService).toBe(512);
  });

  test('an abort reaches a request waiting for a backend', async () => {
    const backends = pool([`http://127.0.0.1:${await freePort()}/v1`]);
    const client = new InferenceClient({ pool: backends, timeoutMs: 1_000, attempts: { maxAttempts: 2, initialDelayMs: 10, maxDelayMs: 20 } });
    await expect(client.execute('/v1/chat/completions', inferenceRequest({}), AbortSignal.timeout(200))).rejects.toThrow();
  });
});
