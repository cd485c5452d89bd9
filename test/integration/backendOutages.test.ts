import type OpenAI from 'openai';
import { defaultSimulatorOptions } from '../../src/simulator/config';
import { startSimulator, type RunningSimulator } from '../../src/simulator/server';
import { chatLine, expectEachCustomIdOnce, readJsonl, TERMINAL, uploadJsonl, waitForBatch } from '../support/batches';
import { freePort, stablePort } from '../support/ports';
import { startServiceUnderTest, type ServiceUnderTest } from '../support/serviceUnderTest';
import { waitFor } from '../support/wait';

const MODEL = 'sim-outage-model';
const REQUESTS = 400;
/** ~150 ms per request at 24 at once: a 400-line batch takes ~2.5 s, so an outage lands mid-batch. */
const SIMULATOR = defaultSimulatorOptions({ models: [MODEL], capacity: 24, baseLatencyMs: 150 });

/**
 * Issue 8: an outage of the GPU backend costs waiting, never requests. The service has two
 * backends: a simulator this test stops, restarts and flaps, and an address where nothing ever
 * answers. Attempts are few and quick (2, from 100 ms), so only waiting can get a request through
 * an outage of seconds.
 */
describe('backend outages', () => {
  let sut: ServiceUnderTest;
  let client: OpenAI;
  let port: number;
  let simulator: RunningSimulator | undefined;
  const deadUrl = async () => `http://127.0.0.1:${await freePort()}/v1`;
  const customIds = Array.from({ length: REQUESTS }, (_, i) => `req-${i}`);

  const startBackend = async () => (simulator = await startSimulator(SIMULATOR, port));
  const stopBackend = async () => {
    await simulator?.close();
    simulator = undefined;
  };

  beforeAll(async () => {
    port = await stablePort();
    await startBackend();
    sut = await startServiceUnderTest({
      env: {
        VLLM_BASE_URL: `${simulator!.baseUrl},${await deadUrl()}`,
        REQUEST_MAX_ATTEMPTS: '2',
        CHUNK_SIZE: '50',
        // Short enough that chunks give up during the outages below and are retried by Temporal.
        CHUNK_STALL_TIMEOUT_MS: '3000',
        BACKEND_PROBE_INTERVAL_MS: '200',
      },
    });
    client = sut.client;
  });

  afterAll(async () => {
    expect(await sut?.stop()).toBe(0);
    await stopBackend();
  });

  async function startBatch(window = '24h'): Promise<string> {
    const input = await uploadJsonl(
      client,
      customIds.map((id) => chatLine(id, MODEL, `Work on ${id}`, { max_tokens: 8 })),
    );
    const batch = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: window as '24h' });
    await waitForBatch(client, batch.id, (b) => b.request_counts!.completed >= 40, 60_000);
    return batch.id;
  }

  async function expectAllCompleted(batchId: string): Promise<void> {
    const batch = await waitForBatch(client, batchId, (b) => TERMINAL.includes(b.status), 120_000);
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: REQUESTS, completed: REQUESTS, failed: 0 } });
    const output = await readJsonl(client, batch.output_file_id);
    expectEachCustomIdOnce(customIds, output, await readJsonl(client, batch.error_file_id));
    for (const line of output) expect(line.response!.status_code).toBe(200);
  }

  test('one of two backends dead from the start: nothing fails, and /readyz says which is down', async () => {
    // The details are on the metrics listener (and for operator keys): the API's own /readyz tells the status only.
    const readiness = (await (await fetch(sut.service.metricsUrl.replace(/\/metrics$/, '/readyz'))).json()) as { backends: Array<{ state: string }> };
    expect(readiness.backends.map((b) => b.state)).toEqual(['up', 'starting']);
    await expectAllCompleted(await startBatch());
  });

  test('the backend stopped for longer than every retry budget: the batch waits and completes with 0 failed', async () => {
    const batchId = await startBatch();
    await stopBackend();
    // Stopped past the attempts (2 × ~100 ms) and the chunk stall timeout (3 s): chunks fail over to their retries.
    await new Promise((resolve) => setTimeout(resolve, 8_000));
    const during = await client.batches.retrieve(batchId);
    expect(during.status).toBe('in_progress');
    expect(during.request_counts!.failed).toBe(0);
    await startBackend();
    await expectAllCompleted(batchId);
  });

  test('a backend flapping between 503s and service: 0 failed', async () => {
    const batchId = await startBatch();
    let flaps = 0;
    // Six flaps take 1.8 s; the 360 requests left need at least 2.25 s at full speed, more with the
    // backend refusing half the time: every flap lands while the batch runs.
    const flapping = setInterval(() => simulator!.setAvailable(++flaps % 2 === 0), 300);
    try {
      await waitFor(() => flaps >= 6, { timeoutMs: 30_000, what: 'six flaps' });
      expect((await client.batches.retrieve(batchId)).request_counts!.completed).toBeLessThan(REQUESTS);
    } finally {
      clearInterval(flapping);
      simulator!.setAvailable(true);
    }
    await expectAllCompleted(batchId);
  });

  test('a completion window that ends during an outage: expired, each custom_id once, the rest batch_expired', async () => {
    const batchId = await startBatch('12s');
    await stopBackend();
    const batch = await waitForBatch(client, batchId, (b) => TERMINAL.includes(b.status), 60_000);
    expect(batch.status).toBe('expired');
    const output = await readJsonl(client, batch.output_file_id);
    const errors = await readJsonl(client, batch.error_file_id);
    expectEachCustomIdOnce(customIds, output, errors);
    expect(output.length).toBeGreaterThanOrEqual(40);
    expect(errors.length).toBeGreaterThan(0);
    for (const line of errors) expect(line).toMatchObject({ response: null, error: { code: 'batch_expired' } });
    expect(batch.request_counts).toEqual({ total: REQUESTS, completed: output.length, failed: errors.length });
    await startBackend();
  });
});

describe('a GPU worker started before its backend answers', () => {
  test('starts, serves nothing until the backend lists its model, then runs batches for it', async () => {
    const port = await stablePort();
    const model = 'sim-late-model';
    const sut = await startServiceUnderTest({ env: { VLLM_BASE_URL: `http://127.0.0.1:${port}/v1`, BACKEND_PROBE_INTERVAL_MS: '200' } });
    let late: RunningSimulator | undefined;
    try {
      expect((await sut.client.models.list()).data.map((m) => m.id)).not.toContain(model);
      late = await startSimulator(defaultSimulatorOptions({ models: [model] }), port);
      await waitFor(async () => (await sut.client.models.list()).data.some((m) => m.id === model), { timeoutMs: 30_000, what: 'the model to be served' });
      const ids = ['a', 'b', 'c'];
      const input = await uploadJsonl(
        sut.client,
        ids.map((id) => chatLine(id, model, id)),
      );
      const created = await sut.client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
      const batch = await waitForBatch(sut.client, created.id, (b) => TERMINAL.includes(b.status), 60_000);
      expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 3, completed: 3, failed: 0 } });
    } finally {
      expect(await sut.stop()).toBe(0);
      await late?.close();
    }
  });
});
