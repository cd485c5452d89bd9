/**
 * Scale proof: one batch of N requests (default 1,000,000) through the embedded default with the
 * limits raised. Reports Temporal history events per workflow run (must stay under 10,240), peak
 * RSS of every process involved (must stay under 512 MB), and the time each phase took.
 *
 *   npm run bench:scale -- 1000000
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { defaultSimulatorOptions } from '../src/simulator/config';
import { startSimulator } from '../src/simulator/server';
import { freePort, getJson, rssMb, RssSampler, startService, uploadJsonlStream, verifyOutputOrder, waitForTerminal, type BatchState } from './lib';

const HISTORY_LIMIT = 10_240;
const RSS_LIMIT_MB = 512;
const MODEL = 'sim-scale-bench';

async function main(): Promise<void> {
  const total = Number(process.argv[2] ?? 1_000_000);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vllm-batch-bench-scale-'));
  // A fast "GPU": the point is the pipeline's bookkeeping at scale, not model latency.
  const simulator = await startSimulator(defaultSimulatorOptions({ models: [MODEL], capacity: 256, baseLatencyMs: 2, msPerOutputToken: 0.05, msPerPromptToken: 0 }));
  const temporalPort = await freePort();
  const service = await startService({
    DATA_DIR: dataDir,
    TEMPORAL_DEV_PORT: String(temporalPort),
    TEMPORAL_UI_PORT: String(await freePort()),
    EMBEDDED_POSTGRES_PORT: String(await freePort()),
    VLLM_BASE_URL: simulator.baseUrl,
    MAX_REQUESTS_PER_BATCH: String(total),
    MAX_FILE_BYTES: String(2 * 1024 ** 3),
  });
  const rss = new RssSampler([service.child.pid!, process.pid]);
  rss.start();
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
              body: { model: MODEL, messages: [{ role: 'user', content: `Request ${i}: summarise.` }], max_tokens: 8 },
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
    let lastLog = 0;
    const batch = await waitForTerminal(service.apiUrl, created.id, (b) => {
      if (Date.now() - lastLog < 10_000) return;
      lastLog = Date.now();
      console.log(`${((Date.now() - started) / 1000).toFixed(0)}s ${b.status} ${JSON.stringify(b.request_counts)} service RSS ${rssMb(service.child.pid!)} MB`);
    });
    phases.batch = (Date.now() - started) / 1000;
    if (batch.status !== 'completed') throw new Error(`batch ended ${batch.status}`);
    const lines = await timed('verify output', () => verifyOutputOrder(service.apiUrl, batch.output_file_id!, customId));
    if (lines !== total) throw new Error(`output has ${lines} lines, expected ${total}`);

    const history = await historyPerRun(`127.0.0.1:${temporalPort}`, batch.id);
    rss.stop();
    const peaks = rss.report();
    const maxEvents = Math.max(...history);
    console.log(
      JSON.stringify(
        {
          requests: total,
          request_counts: batch.request_counts,
          seconds: phases,
          throughput_rps: Math.round(total / phases.batch),
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
