import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import pg from 'pg';
import { defaultSimulatorOptions } from '../../src/simulator/config';
import { startSimulator, type RunningSimulator } from '../../src/simulator/server';
import { findTemporalCli, startDevServer, type RunningDevServer } from '../../src/temporal/devServer';
import { chatLine, expectEachCustomIdOnce, readJsonl, TERMINAL, uploadJsonl, waitForBatch } from '../support/batches';
import { freePort } from '../support/ports';
import { startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { testStack } from '../support/stack';

const MODEL = 'sim-infra-model';
const REQUESTS = 800;

/** The batch's dependencies fail under it: Temporal restarts, Postgres drops every connection. */
describe('infrastructure failures mid-batch', () => {
  const stack = testStack();
  let simulator: RunningSimulator;
  let temporalServer: RunningDevServer;
  let devServerOptions: Parameters<typeof startDevServer>[0];
  let service: ServiceProcess;
  let client: OpenAI;
  let dataDir: string;
  const customIds = Array.from({ length: REQUESTS }, (_, i) => `infra-${i}`);

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vllm-batch-infra-'));
    simulator = await startSimulator(defaultSimulatorOptions({ models: [MODEL], capacity: 8, baseLatencyMs: 40 }));
    // A Temporal of this test's own, so restarting it disturbs nothing else.
    devServerOptions = {
      cliPath: findTemporalCli(process.env.TEMPORAL_CLI_PATH),
      dataDir: path.join(dataDir, 'temporal'),
      port: await freePort(),
      uiPort: await freePort(),
      namespace: 'default',
    };
    temporalServer = await startDevServer(devServerOptions);
    service = await startServiceProcess({
      DATA_DIR: dataDir,
      TEMPORAL_ADDRESS: temporalServer.address,
      DATABASE_URL: stack.databaseUrl,
      VLLM_BASE_URL: simulator.baseUrl,
      MAX_INFLIGHT_PER_BACKEND: '8',
      CHUNK_SIZE: '50',
    });
    client = new OpenAI({ baseURL: service.apiUrl, apiKey: 'unused', maxRetries: 0 });
  });

  afterAll(async () => {
    expect(await service?.stop()).toBe(0);
    await temporalServer?.stop();
    await simulator?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function runBatchThrough(disruption: () => Promise<void>) {
    const input = await uploadJsonl(client, customIds.map((id) => chatLine(id, MODEL, id)));
    const created = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await waitForBatch(client, created.id, (b) => b.request_counts!.completed >= REQUESTS / 4, 60_000);
    await disruption();
    const batch = await waitForBatch(client, created.id, (b) => TERMINAL.includes(b.status), 150_000);
    expect(batch.status).toBe('completed');
    expect(batch.request_counts).toEqual({ total: REQUESTS, completed: REQUESTS, failed: 0 });
    const output = await readJsonl(client, batch.output_file_id);
    expectEachCustomIdOnce(customIds, output, await readJsonl(client, batch.error_file_id));
    expect(output.map((l) => l.custom_id)).toEqual(customIds);
  }

  test('the Temporal dev server restarts on the same SQLite file', async () => {
    await runBatchThrough(async () => {
      await temporalServer.stop();
      temporalServer = await startDevServer(devServerOptions);
    });
  });

  test('PostgreSQL terminates every connection of the service', async () => {
    await runBatchThrough(async () => {
      const admin = new pg.Client({ connectionString: stack.databaseUrl });
      await admin.connect();
      try {
        const { rows } = await admin.query<{ n: number }>(
          `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
           WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
        );
        expect(rows[0]!.n).toBeGreaterThan(0);
      } finally {
        await admin.end();
      }
    });
  });
});
