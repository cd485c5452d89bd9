/**
 * Scale proof: one batch of N requests (default 1,000,000) through the embedded default with the
 * limits raised. Reports Temporal history events per workflow run (must stay under 10,240), peak
 * RSS of every process involved (must stay under 512 MB), and the time each phase took.
 *
 *   npm run bench:scale -- 1000000            run it to completion
 *   npm run bench:scale -- 1000000 cancel     cancel it as soon as it runs, so that finalize writes
 *                                             every line itself, and kill -9 the service a quarter
 *                                             of the way through: the restarted one must resume
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { defaultSimulatorOptions } from '../src/simulator/config';
import { startSimulator } from '../src/simulator/server';
import { freePort, getJson, rssMb, RssSampler, sleep, startService, uploadJsonlStream, verifyOutputOrder, waitForTerminal, type BatchState } from './lib';

const HISTORY_LIMIT = 10_240;
const RSS_LIMIT_MB = 512;
const MODEL = 'sim-scale-bench';

async function main(): Promise<void> {
  const total = Number(process.argv[2] ?? 1_000_000);
  const cancel = process.argv[3] === 'cancel';
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vllm-batch-bench-scale-'));
  // A fast "GPU": the point is the pipeline's bookkeeping at scale, not model latency.
  const simulator = await startSimulator(defaultSimulatorOptions({ models: [MODEL], capacity: 256, baseLatencyMs: 2, msPerOutputToken: 0.05, msPerPromptToken: 0 }));
  const temporalPort = await freePort();
  const env = {
    DATA_DIR: dataDir,
    TEMPORAL_DEV_PORT: String(temporalPort),
    TEMPORAL_UI_PORT: String(await freePort()),
    EMBEDDED_POSTGRES_PORT: String(await freePort()),
    VLLM_BASE_URL: simulator.baseUrl,
    MAX_REQUESTS_PER_BATCH: String(total),
    MAX_FILE_BYTES: String(2 * 1024 ** 3),
  };
  let service = await startService(env);
  let rss = new RssSampler([service.child.pid!, process.pid]);
  rss.start();
  const rssReports: Array<{ process: string; peakMb: number }> = [];
  const phases: Record<string, number> = {};
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    const result = await fn();
    phases[name] = (Date.now() - started) / 1000;
    return result;
  };

  try {
    const customId = (i: number) => `req-${i}`;
    const file = await timed('upload', () =>
      uploadJsonlStream(
        service.apiUrl,
        function* () {
          for (let i = 0; i < total; i++) {
            yield JSON.stringify({
              custom_id: customId(i),
              method: 'POST',
              url: '/v1/chat/completions',
              // To be cancelled: the simulator never answers, so no request finishes before the cancel.
              body: { model: MODEL, messages: [{ role: 'user', content: `Request ${i}: summarise.${cancel ? ' [[sim:hang]]' : ''}` }], max_tokens: 8 },
            });
          }
        },
        'scale.jsonl',
      ),
    );
    console.log(`uploaded ${total} requests, ${(file.bytes / 1024 / 1024).toFixed(0)} MB, in ${phases.upload}s`);

    const started = Date.now();
    const created = await getJson<BatchState>(`${service.apiUrl}/batches`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }),
    });
    let killed: Record<string, unknown> = {};
    if (cancel) {
      await waitFor(async () => (await getJson<BatchState>(`${service.apiUrl}/batches/${created.id}`)).status === 'in_progress');
      await getJson(`${service.apiUrl}/batches/${created.id}/cancel`, { method: 'POST' });
      phases.until_cancel = (Date.now() - started) / 1000;
      ({ service, rss, killed } = await killMidFinalize(env, service, rss, rssReports, created.id));
    }
    let lastLog = 0;
    const batch = await waitForTerminal(service.apiUrl, created.id, (b) => {
      if (Date.now() - lastLog < 10_000) return;
      lastLog = Date.now();
      console.log(`${((Date.now() - started) / 1000).toFixed(0)}s ${b.status} ${JSON.stringify(b.request_counts)} service RSS ${rssMb(service.child.pid!)} MB`);
    });
    phases.batch = (Date.now() - started) / 1000;
    const finalized = batch as BatchState & { cancelling_at: number | null; cancelled_at: number | null };
    phases.finalize = cancel ? finalized.cancelled_at! - finalized.cancelling_at! : batch.completed_at! - batch.finalizing_at!;
    if (batch.status !== (cancel ? 'cancelled' : 'completed')) throw new Error(`batch ended ${batch.status}`);
    const lines = await timed('verify output', () => verifyOutputOrder(service.apiUrl, (cancel ? batch.error_file_id : batch.output_file_id)!, customId));
    if (lines !== total) throw new Error(`${cancel ? 'error' : 'output'} file has ${lines} lines, expected ${total}`);
    if (cancel) Object.assign(killed, await chunkWrites(env, created.id, killed.killed_at as number));

    const history = await historyPerRun(`127.0.0.1:${temporalPort}`, batch.id);
    rss.stop();
    const peaks = [...rssReports, ...rss.report()];
    const maxEvents = Math.max(...history);
    console.log(
      JSON.stringify(
        {
          requests: total,
          request_counts: batch.request_counts,
          seconds: phases,
          throughput_rps: cancel ? undefined : Math.round(total / phases.batch),
          ...(cancel ? { kill_mid_finalize: killed } : {}),
          workflow_runs: history.length,
          history_events_per_run: history,
          max_history_events: maxEvents,
          // More requests than lines means attempts were retried; peak shows how full the "GPU" was kept.
          simulator: simulator.stats(),
          peak_rss_mb: peaks,
        },
        null,
        2,
      ),
    );
    const overLimit = peaks.filter((p) => p.peakMb >= RSS_LIMIT_MB);
    if (maxEvents >= HISTORY_LIMIT || overLimit.length > 0) {
      throw new Error(`limits exceeded: max history ${maxEvents}, processes over ${RSS_LIMIT_MB} MB: ${JSON.stringify(overLimit)}`);
    }
    console.log(`OK: every run under ${HISTORY_LIMIT} events, every process under ${RSS_LIMIT_MB} MB RSS`);
  } finally {
    rss.stop();
    await service.stop();
    await simulator.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The embedded PostgreSQL of the service under `env`, as the service itself connects to it. */
async function embeddedDb(env: { DATA_DIR: string; EMBEDDED_POSTGRES_PORT: string }): Promise<pg.Client> {
  const password = fs.readFileSync(path.join(env.DATA_DIR, 'postgres.password'), 'utf8').trim();
  const client = new pg.Client({ connectionString: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${env.EMBEDDED_POSTGRES_PORT}/postgres` });
  await client.connect();
  return client;
}

/**
 * Waits until finalize has written a quarter of the batch's chunks, kills the service with SIGKILL
 * and starts it again on the same DATA_DIR: its retried finalize must resume, not start over.
 */
async function killMidFinalize(
  env: Record<string, string> & { DATA_DIR: string; EMBEDDED_POSTGRES_PORT: string },
  service: Awaited<ReturnType<typeof startService>>,
  rss: RssSampler,
  rssReports: Array<{ process: string; peakMb: number }>,
  batchId: string,
) {
  const db = await embeddedDb(env);
  let written = 0;
  try {
    const chunks = (await db.query<{ n: number }>(`SELECT chunk_count AS n FROM batches WHERE id = $1`, [batchId])).rows[0]!.n;
    await waitFor(async () => {
      written = (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM batch_chunk_files WHERE batch_id = $1`, [batchId])).rows[0]!.n;
      return written >= chunks / 4;
    });
  } finally {
    await db.end();
  }
  await service.kill();
  const killedAt = Date.now();
  rss.stop();
  rssReports.push(...rss.report());
  console.log(`killed the service with ${written} chunks written; restarting`);
  const restarted = await startService(env);
  const sampler = new RssSampler([restarted.child.pid!, process.pid]);
  sampler.start();
  return { service: restarted, rss: sampler, killed: { chunks_written_at_kill: written, killed_at: killedAt } };
}

/** How the chunks' lines were written around the kill: those written before it must not have been written again. */
async function chunkWrites(env: { DATA_DIR: string; EMBEDDED_POSTGRES_PORT: string }, batchId: string, killedAt: number) {
  const db = await embeddedDb(env);
  try {
    const { rows } = await db.query<{ before: number; after: number; first: Date; last_before: Date }>(
      `SELECT count(*) FILTER (WHERE written_at < to_timestamp($2 / 1000.0))::int AS before,
              count(*) FILTER (WHERE written_at >= to_timestamp($2 / 1000.0))::int AS after,
              min(written_at) AS first, max(written_at) FILTER (WHERE written_at < to_timestamp($2 / 1000.0)) AS last_before
       FROM batch_chunk_files WHERE batch_id = $1`,
      [batchId, killedAt],
    );
    const { before, after, first, last_before } = rows[0]!;
    return {
      chunks_written_before_kill: before,
      chunks_written_after_restart: after,
      chunks_per_second_before_kill: Math.round(before / ((last_before.getTime() - first.getTime()) / 1000)),
    };
  } finally {
    await db.end();
  }
}

async function waitFor(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await sleep(200);
}

/** Event count of every run of the workflow (continue-as-new starts a new run with a fresh history). */
async function historyPerRun(address: string, workflowId: string): Promise<number[]> {
  const connection = await Connection.connect({ address });
  try {
    const client = new Client({ connection });
    const counts: number[] = [];
    for await (const execution of client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) {
      const history = await client.workflow.getHandle(workflowId, execution.runId).fetchHistory();
      counts.push(history.events?.length ?? 0);
    }
    return counts;
  } finally {
    await connection.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
