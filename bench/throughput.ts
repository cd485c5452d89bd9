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
import os from 'node:os';
import { parseArgs } from 'node:util';
import { SCHEDULER_GAUGE_KINDS } from '../src/inference/gauges';
import { bareClient, loadAverage, startSimulatorProcess, throughBatchServer } from './lib';

const MODEL = 'sim-throughput-bench';

/** Sequences a GPU runs at once, and the time one request takes (16 output tokens). */
const PROFILES: Record<string, { depth: number; latencyMs: number }> = {
  deep: { depth: 1024, latencyMs: 4000 },
  wide: { depth: 256, latencyMs: 2000 },
  fast: { depth: 64, latencyMs: 50 },
};

const body = (i: number) => ({ model: MODEL, messages: [{ role: 'user', content: `Request ${i}` }], max_tokens: 16 });

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
    const baseline = await bareClient(baselineSim.baseUrl, total, profile.depth, body).finally(() => baselineSim.stop());
    const batchSim = await startSimulatorProcess(gpu);
    try {
      const batched = await throughBatchServer(batchSim.baseUrl, total, body);
      const { peakInService, firstArrivalAt } = await batchSim.stats();
      console.log(
        JSON.stringify({
          profile: name,
          requests: total,
          gpu: { ...profile, gauges },
          direct: { rps: Math.round(baseline.rps), cpu_ms_per_request: Number(baseline.cpuMsPerRequest.toFixed(2)) },
          batch_server: { rps: Math.round(batched.rps), cpu_ms_per_request: Number(batched.cpuMsPerRequest.toFixed(2)), ...batched.phases },
          ratio: Number((batched.rps / baseline.rps).toFixed(3)),
          batch_server_peak_in_service: peakInService,
          // From the create call to the backend's first request.
          first_request_ms: firstArrivalAt === null ? null : firstArrivalAt - batched.createdAtMs!,
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
