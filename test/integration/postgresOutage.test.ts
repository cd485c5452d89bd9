import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Batch } from 'openai/resources/batches';
import { chatLine, expectEachCustomIdOnce, readJsonl, TERMINAL, uploadJsonl } from '../support/batches';
import { freePort } from '../support/ports';
import { startPostgresProcess, type PostgresProcess } from '../support/postgresProcess';
import { startServiceUnderTest, type ServiceUnderTest } from '../support/serviceUnderTest';
import { waitFor } from '../support/wait';
import type { RunningSimulator } from '../../src/simulator/server';

const MODEL = 'sim-pg-outage-model';
const REQUESTS = 800;
const IN_FLIGHT = 8;
const OUTAGE_MS = 45_000;

/**
 * PostgreSQL stopped for 45 s in the middle of a batch (a restart or failover), on a cluster of the
 * test's own: the GPU worker keeps finished results in memory and stores them once it is back, so the
 * batch completes and nothing is sent to the backend twice beyond what was in flight.
 */
describe('PostgreSQL down for 45 s mid-batch', () => {
  let pgDir: string;
  let pgPort: number;
  let postgres: PostgresProcess | undefined;
  let sut: ServiceUnderTest<RunningSimulator>;

  beforeAll(async () => {
    pgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vllm-batch-pg-outage-'));
    pgPort = await freePort();
    postgres = await startPostgresProcess(pgDir, pgPort);
    sut = await startServiceUnderTest({
      simulator: { models: [MODEL], capacity: IN_FLIGHT, baseLatencyMs: 40 },
      env: { DATABASE_URL: postgres.url, MAX_INFLIGHT_PER_BACKEND: String(IN_FLIGHT), CHUNK_SIZE: '50' },
    });
  });

  afterAll(async () => {
    expect(await sut?.stop()).toBe(0);
    await postgres?.stop();
    if (pgDir) fs.rmSync(pgDir, { recursive: true, force: true });
  });

  test('the batch completes, every custom_id once, in order, and nothing is redone beyond the requests in flight', async () => {
    const { client } = sut;
    const customIds = Array.from({ length: REQUESTS }, (_, i) => `pg-${i}`);
    const input = await uploadJsonl(
      client,
      customIds.map((id) => chatLine(id, MODEL, id)),
    );
    const created = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    // The API answers errors while PostgreSQL is down: polls that fail are just not the answer yet.
    const batchWhen = (until: (b: Batch) => boolean, timeoutMs: number) =>
      waitFor<Batch>(
        async () =>
          client.batches.retrieve(created.id).then(
            (b): Batch | false => (until(b) ? b : false),
            () => false,
          ),
        { timeoutMs, intervalMs: 250, what: `batch ${created.id}` },
      );

    await batchWhen((b) => b.request_counts!.completed >= REQUESTS / 4, 120_000);
    await postgres!.stop();
    postgres = undefined;
    const sentAtStop = sut.simulator.stats().requests;
    // The outage itself: how long the database stays away, not something waited for.
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    const sentDuringOutage = sut.simulator.stats().requests - sentAtStop;
    postgres = await startPostgresProcess(pgDir, pgPort);

    const batch = await batchWhen((b) => TERMINAL.includes(b.status), 180_000);
    expect(batch.status).toBe('completed');
    expect(batch.request_counts).toEqual({ total: REQUESTS, completed: REQUESTS, failed: 0 });
    const output = await readJsonl(client, batch.output_file_id);
    expectEachCustomIdOnce(customIds, output, await readJsonl(client, batch.error_file_id));
    expect(output.map((l) => l.custom_id)).toEqual(customIds);

    const redone = sut.simulator.stats().requests - REQUESTS;
    console.log(`postgres outage: ${sentDuringOutage} requests sent while PostgreSQL was down, ${redone} redone`);
    expect(redone).toBeLessThanOrEqual(IN_FLIGHT);
  }, 400_000);
});
