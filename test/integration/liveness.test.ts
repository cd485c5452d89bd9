import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultSimulatorOptions } from '../../src/simulator/config';
import { startSimulator, type RunningSimulator } from '../../src/simulator/server';
import { chatLine, expectEachCustomIdOnce, readJsonl, TERMINAL, uploadJsonl, waitForBatch } from '../support/batches';
import { startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { startServiceUnderTest, type ServiceUnderTest } from '../support/serviceUnderTest';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';

const MODEL = 'sim-liveness-model';
const LATE_MODEL = 'sim-liveness-late-model';
const NEVER_MODEL = 'sim-liveness-never-served';
const GRACE_SECONDS = 25;
const IN_FLIGHT = 8;

/**
 * What rests on whether GPU workers are there, end to end: a batch for a model no worker serves yet
 * waits its grace period (MODEL_GRACE_SECONDS) and runs once one does, or fails with
 * model_not_found after it; and a cancel stops the batch's requests from reaching the backend
 * within a second of its answer, not at the chunk's next heartbeat.
 */
describe('liveness: models that come late, and cancels', () => {
  let sut: ServiceUnderTest<RunningSimulator>;
  let lateSimulator: RunningSimulator | undefined;
  let lateWorker: ServiceProcess | undefined;
  let lateDir: string;

  beforeAll(async () => {
    lateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vllm-batch-late-worker-'));
    sut = await startServiceUnderTest({
      simulator: { models: [MODEL], capacity: IN_FLIGHT, baseLatencyMs: 200 },
      env: { MODEL_GRACE_SECONDS: String(GRACE_SECONDS), MAX_INFLIGHT_PER_BACKEND: String(IN_FLIGHT), CHUNK_SIZE: '500' },
    });
  });

  afterAll(async () => {
    const exitCodes = { lateWorker: await lateWorker?.stop(), service: await sut?.stop() };
    await lateSimulator?.close();
    if (lateDir) fs.rmSync(lateDir, { recursive: true, force: true });
    expect(exitCodes).toEqual({ lateWorker: lateWorker ? 0 : undefined, service: 0 });
  });

  test('a batch for a model no worker serves yet waits, validating, and completes once a worker serving it starts', async () => {
    const { client } = sut;
    const customIds = Array.from({ length: 30 }, (_, i) => `late-${i}`);
    const input = await uploadJsonl(
      client,
      customIds.map((id) => chatLine(id, LATE_MODEL, id)),
    );
    const created = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    // A few checks later, nothing serves it: it waits rather than fails.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    expect((await client.batches.retrieve(created.id)).status).toBe('validating');

    const stack = testStack();
    lateSimulator = await startSimulator(defaultSimulatorOptions({ models: [LATE_MODEL], capacity: 4, baseLatencyMs: 10 }));
    lateWorker = await startServiceProcess(
      { DATA_DIR: lateDir, TEMPORAL_ADDRESS: stack.temporalAddress, DATABASE_URL: stack.databaseUrl, VLLM_BASE_URL: lateSimulator.baseUrl, WORKER_ROLES: 'inference' },
      { entry: 'worker' },
    );
    const batch = await waitForBatch(client, created.id, (b) => TERMINAL.includes(b.status), 60_000);
    expect({ status: batch.status, counts: batch.request_counts }).toEqual({ status: 'completed', counts: { total: 30, completed: 30, failed: 0 } });
    expectEachCustomIdOnce(customIds, await readJsonl(client, batch.output_file_id), await readJsonl(client, batch.error_file_id));
  });

  test('a batch for a model no worker serves fails with model_not_found once its grace period has passed', async () => {
    const { client } = sut;
    const input = await uploadJsonl(client, [chatLine('never-1', NEVER_MODEL, 'hello')]);
    const created = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const batch = await waitForBatch(client, created.id, (b) => TERMINAL.includes(b.status), (GRACE_SECONDS + 30) * 1000);
    expect({ status: batch.status, errors: batch.errors?.data?.map((e) => ({ code: e.code, line: e.line })) }).toEqual({
      status: 'failed',
      errors: [{ code: 'model_not_found', line: 1 }],
    });
    expect(batch.failed_at! - batch.created_at).toBeGreaterThanOrEqual(GRACE_SECONDS - 1);
  });

  // Temporal's cancellation reaches a chunk at a heartbeat, at any moment of a 5 s beat, and a chunk
  // (500 requests here) runs for 12 s: three cancels, each landing at its own moment, would each
  // have to be lucky for that to be enough.
  test.each([1, 2, 3])("a cancel stops the batch's requests from reaching the backend within a second of its answer (%i)", async (round) => {
    const { client, simulator } = sut;
    const customIds = Array.from({ length: 1_000 }, (_, i) => `cancel-${round}-${i}`);
    const input = await uploadJsonl(
      client,
      customIds.map((id) => chatLine(id, MODEL, id)),
    );
    const created = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await waitForBatch(client, created.id, (b) => b.request_counts!.completed >= 50, 60_000);
    await client.batches.cancel(created.id);
    const answeredAt = Date.now();

    const batch = await waitForBatch(client, created.id, (b) => TERMINAL.includes(b.status), 60_000);
    expect(batch.status).toBe('cancelled');
    expectEachCustomIdOnce(customIds, await readJsonl(client, batch.output_file_id), await readJsonl(client, batch.error_file_id));
    // Nothing of this batch arrives any more (the simulator is this test's own): the last arrival is final.
    const last = await waitFor(
      async () => {
        const before = simulator.stats().lastArrivalAt;
        await new Promise((resolve) => setTimeout(resolve, 500));
        return before !== null && simulator.stats().lastArrivalAt === before && before;
      },
      { timeoutMs: 30_000, what: 'the backend to see no new request' },
    );
    console.log(`cancel ${round}: last request reached the backend ${last - answeredAt} ms after the cancel's answer`);
    expect(last - answeredAt).toBeLessThanOrEqual(1_000);
  });
});
