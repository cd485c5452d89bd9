import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type OpenAI from 'openai';
import pg from 'pg';
import { findTemporalCli, startDevServer, type RunningDevServer } from '../../src/temporal/devServer';
import { chatLine, expectEachCustomIdOnce, readJsonl, TERMINAL, uploadJsonl, waitForBatch } from '../support/batches';
import { freePort } from '../support/ports';
import { startServiceUnderTest, type ServiceUnderTest } from '../support/serviceUnderTest';
import { testStack } from '../support/stack';

const MODEL = 'sim-infra-model';
const REQUESTS = 800;

/** The batch's dependencies fail under it: Temporal restarts, Postgres drops every connection. */
describe('infrastructure failures mid-batch', () => {
  const stack = testStack();
  let temporalDir: string;
  let temporalServer: RunningDevServer;
  let devServerOptions: Parameters<typeof startDevServer>[0];
  let sut: ServiceUnderTest;
  let client: OpenAI;
  const customIds = Array.from({ length: REQUESTS }, (_, i) => `infra-${i}`);

  beforeAll(async () => {
    // A Temporal of this test's own, so restarting it disturbs nothing else.
    temporalDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vllm-batch-infra-temporal-'));
    devServerOptions = {
      cliPath: findTemporalCli(process.env.TEMPORAL_CLI_PATH),
      dataDir: temporalDir,
      port: await freePort(),
      uiPort: await freePort(),
      namespace: 'default',
    };
    temporalServer = await startDevServer(devServerOptions);
    sut = await startServiceUnderTest({
      simulator: { models: [MODEL], capacity: 8, baseLatencyMs: 40 },
      env: { TEMPORAL_ADDRESS: temporalServer.address, MAX_INFLIGHT_PER_BACKEND: '8', CHUNK_SIZE: '50' },
    });
    client = sut.client;
  });

  afterAll(async () => {
    expect(await sut?.stop()).toBe(0);
    await temporalServer?.stop();
    if (temporalDir) fs.rmSync(temporalDir, { recursive: true, force: true });
  });

  async function runBatchThrough(disruption: () => Promise<void>) {
    const input = await uploadJsonl(
      client,
      customIds.map((id) => chatLine(id, MODEL, id)),
    );
    const created = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await waitForBatch(client, created.id, (b) => b.request_counts!.completed >= REQUESTS / 4, 120_000);
    await disruption();
    const batch = await waitForBatch(client, created.id, (b) => TERMINAL.includes(b.status), 150_000);
    expect(batch.status).toBe('completed');
    expect(batch.request_counts).toEqual({ total: REQUESTS, completed: REQUESTS, failed: 0 });
    const output = await readJsonl(client, batch.output_file_id);
    expectEachCustomIdOnce(customIds, output, await readJsonl(client, batch.error_file_id));
    expect(output.map((l) => l.custom_id)).toEqual(customIds);
  }

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

  test('the Temporal dev server restarts on the same SQLite file', async () => {
    await runBatchThrough(async () => {
      await temporalServer.stop();
      temporalServer = await startDevServer(devServerOptions);
    });
  });
});
