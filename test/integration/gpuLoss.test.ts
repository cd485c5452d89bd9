import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import OpenAI from 'openai';
import { defaultSimulatorOptions } from '../../src/simulator/config';
import { startSimulator, type RunningSimulator } from '../../src/simulator/server';
import { chatLine, expectEachCustomIdOnce, readJsonl, TERMINAL, uploadJsonl, waitForBatch } from '../support/batches';
import { startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';

const MODEL = 'sim-gpu-loss-model';
const LINES = 1_200;
const CHUNK_SIZE = 25;
/**
 * Slots of each simulated GPU, and the depth each worker may keep at one. At 3 s a request, what A
 * holds when a2 fails takes its one GPU left longer than HAND_BACK_AFTER_MS to run.
 */
const SLOTS = 32;

/**
 * Issue 27: a GPU worker that loses some of its GPUs holds work its other GPUs cannot run soon; the
 * rest of the fleet must not wait for it. Worker A serves GPUs a1 and a2, worker B serves b1; a2
 * fails mid-batch. A's chunks then hand the requests they have not sent back to the task queue,
 * where B (or A, once it has room) takes them: no line fails, and a handed-back chunk runs again.
 */
describe('a GPU worker that loses GPUs hands back the work they cannot run', () => {
  const stack = testStack();
  const gpus: Record<'a1' | 'a2' | 'b1', RunningSimulator> = {} as never;
  const processes: ServiceProcess[] = [];
  let client: OpenAI;
  let temporal: Client;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vllm-batch-gpu-loss-'));
    for (const name of ['a1', 'a2', 'b1'] as const) {
      gpus[name] = await startSimulator(defaultSimulatorOptions({ models: [MODEL], capacity: SLOTS, baseLatencyMs: 3_000, msPerOutputToken: 0 }));
    }
    const common = { DATA_DIR: dataDir, TEMPORAL_ADDRESS: stack.temporalAddress, DATABASE_URL: stack.databaseUrl, MAX_INFLIGHT_PER_BACKEND: String(SLOTS) };
    processes.push(await startServiceProcess(common, { entry: 'api' }));
    processes.push(await startServiceProcess({ ...common, WORKER_ROLES: 'orchestrator', CHUNK_SIZE: String(CHUNK_SIZE) }, { entry: 'worker' }));
    const worker = (...urls: string[]) =>
      startServiceProcess({ ...common, WORKER_ROLES: 'inference', VLLM_BASE_URL: urls.join(','), BACKEND_PROBE_INTERVAL_MS: '200' }, { entry: 'worker' });
    processes.push(await worker(gpus.a1.baseUrl, gpus.a2.baseUrl), await worker(gpus.b1.baseUrl));
    client = new OpenAI({ baseURL: processes[0]!.apiUrl, apiKey: 'unused', maxRetries: 0 });
    temporal = new Client({ connection: await Connection.connect({ address: stack.temporalAddress }) });
  });

  afterAll(async () => {
    for (const process of processes.reverse()) expect(await process.stop()).toBe(0);
    await temporal?.connection.close();
    for (const gpu of Object.values(gpus)) await gpu.close().catch(() => undefined);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('a batch loses no line when a GPU fails, and its handed-back chunks run again', async () => {
    const ids = Array.from({ length: LINES }, (_, i) => `loss-${i}`);
    const input = await uploadJsonl(
      client,
      ids.map((id) => chatLine(id, MODEL, id, { max_tokens: 4 })),
    );
    const created = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const served = () => Object.values(gpus).reduce((sum, gpu) => sum + gpu.stats().completed, 0);
    await waitFor(() => served() >= LINES / 5, { timeoutMs: 60_000, what: 'a fifth of the batch served' });
    // A dies as a crashed vLLM does: its connections drop, and nothing answers on its port.
    await gpus.a2.close();

    const batch = await waitForBatch(client, created.id, (b) => TERMINAL.includes(b.status), 180_000);
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: LINES, completed: LINES, failed: 0 } });
    expectEachCustomIdOnce(ids, await readJsonl(client, batch.output_file_id), await readJsonl(client, batch.error_file_id));

    // The chunks A handed back ran again: their last attempt started after a hand-back.
    const handedBack: string[] = [];
    for (const event of (await temporal.workflow.getHandle(created.id).fetchHistory()).events ?? []) {
      const started = event.activityTaskStartedEventAttributes;
      if (started?.lastFailure?.message?.includes('handed back')) handedBack.push(started.identity ?? '?');
    }
    console.log(`GPU loss: ${handedBack.length} chunks handed back, run again by ${[...new Set(handedBack)].join(', ')}`);
    expect(handedBack.length).toBeGreaterThan(0);
  });
});
