/**
 * How busy the batch server keeps a GPU, with default settings: the same N requests against the
 * same simulated GPU (its own process, as a vLLM is), once sent directly by a client holding exactly
 * the GPU's depth open (the baseline: a GPU never idle, on the same HTTP client the GPU worker uses), once as a batch through the server, which
 * must find that depth itself. Reports the ratio of the throughputs and machine-wide CPU ms per
 * request of each run, for several GPU shapes.
 *
 *   npm run bench -- [N] [profile...] [--gauges vllm|sglang|tgi|none]
 *
 * Profiles: deep (1024 × 4 s), wide (256 × 2 s), fast (64 × 50 ms). `--gauges none` serves no
 * scheduler gauges, as a proxy or llama.cpp: the depth is then found from latencies alone.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Agent } from 'undici';
import { SCHEDULER_GAUGE_KINDS } from '../src/inference/gauges';
import { freePort, getJson, loadAverage, machineCpuMs, startService, startSimulatorProcess, uploadJsonlStream, waitForTerminal, type BatchState } from './lib';

const MODEL = 'sim-throughput-bench';

/** Sequences a GPU runs at once, and the time one request takes (16 output tokens). */
const PROFILES: Record<string, { depth: number; latencyMs: number }> = {
  deep: { depth: 1024, latencyMs: 4000 },
  wide: { depth: 256, latencyMs: 2000 },
  fast: { depth: 64, latencyMs: 50 },
};

const body = (i: number) => ({ model: MODEL, messages: [{ role: 'user', content: `Request ${i}` }], max_tokens: 16 });

type Run = { rps: number; cpuMsPerRequest: number; phases?: Record<string, number> };

async function measured(total: number, run: () => Promise<void>): Promise<Run> {
  const cpu = machineCpuMs().busy;
  const started = Date.now();
  await run();
  const seconds = (Date.now() - started) / 1000;
  return { rps: total / seconds, cpuMsPerRequest: (machineCpuMs().busy - cpu) / total };
}

/** The baseline client: undici's request API on keep-alive connections, as the GPU worker uses. */
async function direct(baseUrl: string, total: number, depth: number): Promise<Run> {
  const agent = new Agent({ keepAliveTimeout: 30_000 });
  const target = new URL(`${baseUrl}/chat/completions`);
  try {
    return await measured(total, async () => {
      let next = 0;
      const lane = async () => {
        while (next < total) {
          const i = next++;
          const response = await agent.request({
            origin: target.origin,
            path: target.pathname,
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(body(i)),
          });
          await response.body.text();
          if (response.statusCode !== 200) throw new Error(`direct request ${i}: ${response.statusCode}`);
        }
      };
      await Promise.all(Array.from({ length: depth }, lane));
    });
  } finally {
    await agent.close();
  }
}

async function throughBatchServer(baseUrl: string, total: number): Promise<Run> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vllm-batch-bench-tp-'));
  const service = await startService({
    DATA_DIR: dataDir,
    TEMPORAL_DEV_PORT: String(await freePort()),
    TEMPORAL_UI_PORT: String(await freePort()),
    EMBEDDED_POSTGRES_PORT: String(await freePort()),
    VLLM_BASE_URL: baseUrl,
    MAX_REQUESTS_PER_BATCH: String(total),
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
    let phases: Record<string, number> = {};
    const run = await measured(total, async () => {
      const created = await getJson<BatchState>(`${service.apiUrl}/batches`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input_file_id: file.id, completion_window: '24h' }),
      });
      const batch = await waitForTerminal(service.apiUrl, created.id, () => undefined);
      if (batch.status !== 'completed' || batch.request_counts.completed !== total) throw new Error(`batch ended ${JSON.stringify(batch)}`);
      // Where the time went, from the Batch object's own timestamps (whole seconds).
      phases = {
        validating_s: batch.in_progress_at! - batch.created_at,
        in_progress_s: batch.finalizing_at! - batch.in_progress_at!,
        finalizing_s: batch.completed_at! - batch.finalizing_at!,
      };
    });
    return { ...run, phases };
  } finally {
    await service.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { gauges: { type: 'string', default: 'vllm' } } });
  const gauges = values.gauges;
  if (!(SCHEDULER_GAUGE_KINDS as readonly string[]).includes(gauges)) throw new Error(`--gauges: one of ${SCHEDULER_GAUGE_KINDS.join(', ')}`);
  const total = Number(positionals[0] ?? 20_000);
  const names = positionals.length > 1 ? positionals.slice(1) : Object.keys(PROFILES);
  for (const name of names) {
    const profile = PROFILES[name];
    if (!profile) throw new Error(`unknown profile ${name}: ${Object.keys(PROFILES).join(', ')}`);
    const gpu = {
      SIMULATOR_MODELS: MODEL,
      SIMULATOR_CAPACITY: String(profile.depth),
      SIMULATOR_GAUGES: gauges,
      SIMULATOR_BASE_LATENCY_MS: String(profile.latencyMs),
      SIMULATOR_MS_PER_OUTPUT_TOKEN: '0',
      SIMULATOR_MS_PER_PROMPT_TOKEN: '0',
    };
    const loadBefore = loadAverage();
    const baselineSim = await startSimulatorProcess(gpu);
    const baseline = await direct(baselineSim.baseUrl, total, profile.depth).finally(() => baselineSim.stop());
    const batchSim = await startSimulatorProcess(gpu);
    try {
      const batched = await throughBatchServer(batchSim.baseUrl, total);
      console.log(
        JSON.stringify({
          profile: name,
          requests: total,
          gpu: { ...profile, gauges },
          direct: { rps: Math.round(baseline.rps), cpu_ms_per_request: Number(baseline.cpuMsPerRequest.toFixed(2)) },
          batch_server: { rps: Math.round(batched.rps), cpu_ms_per_request: Number(batched.cpuMsPerRequest.toFixed(2)), ...batched.phases },
          ratio: Number((batched.rps / baseline.rps).toFixed(3)),
          batch_server_peak_in_service: (await batchSim.stats()).peakInService,
          load_average_before: loadBefore,
          cores: os.cpus().length,
        }),
      );
    } finally {
      await batchSim.stop();
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
