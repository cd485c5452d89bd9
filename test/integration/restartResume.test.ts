import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import pg from 'pg';
import { DEFAULT_FLUSH_POLICY } from '../../src/pipeline/chunk';
import { chatLine, expectEachCustomIdOnce, readJsonl, TERMINAL, uploadJsonl, waitForBatch } from '../support/batches';
import { freePort } from '../support/ports';
import { startServiceProcess, type ServiceProcess } from '../support/serviceProcess';

const MODEL = 'sim-resume-model';
const REQUESTS = 1000;
const MAX_INFLIGHT = 16;

/**
 * The embedded default exactly as `npm start` runs it (own Temporal dev server, own PostgreSQL, own
 * simulator, all under DATA_DIR), killed with SIGKILL mid-batch and started again on the same DATA_DIR.
 */
describe('npm start survives SIGKILL and resumes on the same DATA_DIR', () => {
  let dataDir: string;
  let env: Record<string, string>;
  let service: ServiceProcess | undefined;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vllm-batch-resume-'));
    env = {
      DATA_DIR: dataDir,
      TEMPORAL_DEV_PORT: String(await freePort()),
      TEMPORAL_UI_PORT: String(await freePort()),
      EMBEDDED_POSTGRES_PORT: String(await freePort()),
      SIMULATOR_PORT: String(await freePort()),
      SIMULATOR_MODELS: MODEL,
      // Slow enough that the kill lands mid-batch: 1,000 requests at 8 at a time take several seconds.
      SIMULATOR_CAPACITY: '8',
      SIMULATOR_BASE_LATENCY_MS: '40',
      MAX_INFLIGHT_PER_BACKEND: String(MAX_INFLIGHT),
      ...(process.env.TEMPORAL_CLI_PATH ? { TEMPORAL_CLI_PATH: process.env.TEMPORAL_CLI_PATH } : {}),
    };
  });

  afterAll(async () => {
    if (service) expect(await service.stop()).toBe(0);
    // A clean stop leaves no server of this DATA_DIR behind.
    expect(processesMentioning(dataDir)).toEqual([]);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('the batch completes with every custom_id exactly once and little work redone', async () => {
    const port = await freePort();
    service = await startServiceProcess(env, { port });
    const client = new OpenAI({ baseURL: service.apiUrl, apiKey: 'unused', maxRetries: 0 });
    const customIds = Array.from({ length: REQUESTS }, (_, i) => `item-${i}`);
    const input = await uploadJsonl(
      client,
      customIds.map((id) => chatLine(id, MODEL, `Summarise ${id}`)),
    );
    const created = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });

    await waitForBatch(client, created.id, (b) => b.request_counts!.completed >= 150, 60_000);
    await service.kill();
    const killedAt = new Date();

    service = await startServiceProcess(env, { port });
    expect(service.output()).toContain('stopped a PostgreSQL server left over from a previous run');
    expect(service.output()).toContain('stopped a Temporal dev server left over from a previous run');
    const batch = await waitForBatch(client, created.id, (b) => TERMINAL.includes(b.status), 120_000);

    expect(batch.status).toBe('completed');
    expect(batch.request_counts).toEqual({ total: REQUESTS, completed: REQUESTS, failed: 0 });
    const output = await readJsonl(client, batch.output_file_id);
    const errors = await readJsonl(client, batch.error_file_id);
    expectEachCustomIdOnce(customIds, output, errors);
    expect(output.map((l) => l.custom_id)).toEqual(customIds);

    // Redone work: requests the restarted process sent beyond those with no checkpoint at the kill.
    const checkpointedBeforeKill = await countResultsBefore(dataDir, Number(env.EMBEDDED_POSTGRES_PORT), created.id, killedAt);
    const stats = (await (await fetch(`http://127.0.0.1:${env.SIMULATOR_PORT}/sim/stats`)).json()) as { requests: number };
    const redone = stats.requests - (REQUESTS - checkpointedBeforeKill);
    console.log(`restart-resume: ${checkpointedBeforeKill} checkpointed at kill, ${stats.requests} sent after restart, ${redone} redone`);
    expect(checkpointedBeforeKill).toBeGreaterThanOrEqual(150);
    // What can be redone is what was in flight or awaiting a flush: bounded, not the whole batch.
    expect(redone).toBeGreaterThanOrEqual(0);
    expect(redone).toBeLessThanOrEqual(MAX_INFLIGHT + 4 * DEFAULT_FLUSH_POLICY.maxResults);
  });
});

async function countResultsBefore(dataDir: string, port: number, batchId: string, before: Date): Promise<number> {
  const password = fs.readFileSync(path.join(dataDir, 'postgres.password'), 'utf8').trim();
  const client = new pg.Client({ connectionString: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres` });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM batch_results WHERE batch_id = $1 AND created_at < $2', [batchId, before]);
    return rows[0]!.n;
  } finally {
    await client.end();
  }
}

function processesMentioning(text: string): string[] {
  try {
    return execFileSync('pgrep', ['-f', text], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}
