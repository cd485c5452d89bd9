/**
 * How busy the batch server keeps a GPU: the same N requests against the same simulated GPU, once
 * sent directly by a client holding exactly MAX_INFLIGHT requests open (the baseline: a GPU never
 * idle), once as a batch through the server. Reports the ratio of the two throughputs.
 *
 *   npm run bench -- [N]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultSimulatorOptions } from '../src/simulator/config';
import { startSimulator, type RunningSimulator } from '../src/simulator/server';
import { freePort, getJson, startService, uploadJsonlStream, waitForTerminal, type BatchState } from './lib';

const MODEL = 'sim-throughput-bench';
const INFLIGHT = 64;
/** A GPU-like server: 64 sequences in a batch, tens of milliseconds per request. */
const GPU = { models: [MODEL], capacity: INFLIGHT, baseLatencyMs: 30, msPerOutputToken: 1, msPerPromptToken: 0 };

const body = (i: number) => ({ model: MODEL, messages: [{ role: 'user', content: `Request ${i}` }], max_tokens: 16 });

async function direct(simulator: RunningSimulator, total: number): Promise<number> {
  const started = Date.now();
  let next = 0;
  const lane = async () => {
    while (next < total) {
      const i = next++;
      const response = await fetch(`${simulator.baseUrl}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body(i)),
      });
      if (!response.ok) throw new Error(`direct request ${i}: ${response.status}`);
      await response.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: INFLIGHT }, lane));
  return total / ((Date.now() - started) / 1000);
}

async function throughBatchServer(simulator: RunningSimulator, total: number): Promise<number> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vllm-batch-bench-tp-'));
  const service = await startService({
    DATA_DIR: dataDir,
    TEMPORAL_DEV_PORT: String(await freePort()),
    TEMPORAL_UI_PORT: String(await freePort()),
    EMBEDDED_POSTGRES_PORT: String(await freePort()),
    VLLM_BASE_URL: simulator.baseUrl,
    MAX_INFLIGHT_PER_BACKEND: String(INFLIGHT),
  });
  try {
    const file = await uploadJsonlStream(
      service.apiUrl,
      function* () {
        for (let i = 0; i < total; i++) yield JSON.stringify({ custom_id: `r${i}`, method: 'POST', url: '/v1/chat/completions', body: body(i) });
      },
      'throughput.jsonl',
    );
    // Timed from batch creation to completed: validation, execution and output files included.
    const started = Date.now();
    const created = await getJson<BatchState>(`${service.apiUrl}/batches`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input_file_id: file.id, completion_window: '24h' }),
    });
    const batch = await waitForTerminal(service.apiUrl, created.id, () => undefined);
    if (batch.status !== 'completed' || batch.request_counts.completed !== total) throw new Error(`batch ended ${JSON.stringify(batch)}`);
    return total / ((Date.now() - started) / 1000);
  } finally {
    await service.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const total = Number(process.argv[2] ?? 20_000);
  const baselineSim = await startSimulator(defaultSimulatorOptions(GPU));
  const batchSim = await startSimulator(defaultSimulatorOptions(GPU));
  try {
    const baseline = await direct(baselineSim, total);
    const batched = await throughBatchServer(batchSim, total);
    console.log(
      JSON.stringify(
        {
          requests: total,
          backend: GPU,
          direct_rps: Math.round(baseline),
          batch_server_rps: Math.round(batched),
          ratio: Number((batched / baseline).toFixed(3)),
          batch_server_peak_in_service: batchSim.stats().peakInService,
        },
        null,
        2,
      ),
    );
  } finally {
    await baselineSim.close();
    await batchSim.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
