import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadAverage, machineCpuMs, sleep, startService, startSimulatorProcess } from './lib';

/**
 * Stream-to-batch: PRODUCERS concurrent clients post single requests (one per call) to
 * `POST /v1/requests` until `total` are queued; the queue cuts them into batches by size. Reports
 * how fast requests are accepted, machine-wide CPU per request, and the time from the last enqueue
 * to the last result. Baseline, in the same run: the same producers sending each request straight to
 * the backend (a client without batching).
 *   node dist-bench/bench/queue.js [total=100000] [producers=16]
 */
const MODEL = 'sim-queue-bench';
const body = (i: number) => ({ model: MODEL, messages: [{ role: 'user', content: `Request ${i}` }], max_tokens: 16 });
const GPU = {
  SIMULATOR_MODELS: MODEL,
  SIMULATOR_CAPACITY: '256',
  SIMULATOR_BASE_LATENCY_MS: '50',
  SIMULATOR_MS_PER_OUTPUT_TOKEN: '0',
  SIMULATOR_MS_PER_PROMPT_TOKEN: '0',
};

async function producers(count: number, total: number, send: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: count }, async () => {
      while (next < total) await send(next++);
    }),
  );
}

async function post(url: string, payload: unknown): Promise<Response> {
  const response = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(payload) });
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  return response;
}

async function direct(total: number, count: number): Promise<{ rps: number; cpuMsPerRequest: number }> {
  const sim = await startSimulatorProcess(GPU);
  try {
    const cpu = machineCpuMs().busy;
    const started = performance.now();
    await producers(count, total, async (i) => void (await (await post(`${sim.baseUrl}/chat/completions`, body(i))).json()));
    const seconds = (performance.now() - started) / 1000;
    return { rps: total / seconds, cpuMsPerRequest: (machineCpuMs().busy - cpu) / total };
  } finally {
    await sim.stop();
  }
}

async function queued(total: number, count: number) {
  const sim = await startSimulatorProcess(GPU);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vllm-batch-bench-queue-'));
  const service = await startService({
    DATA_DIR: dataDir,
    VLLM_BASE_URL: sim.baseUrl,
    QUEUE_MODEL: MODEL,
    QUEUE_THRESHOLD: '5000',
    QUEUE_TIME_THRESHOLD_SECONDS: '1',
    QUEUE_TIME_INTERVAL_SECONDS: '0.5',
    MAX_QUEUED_REQUESTS_PER_TENANT: String(total),
  });
  try {
    const cpu = machineCpuMs().busy;
    const started = performance.now();
    await producers(count, total, async (i) => void (await (await post(`${service.apiUrl}/requests`, { body: body(i) })).json()));
    const enqueued = performance.now();
    for (;;) {
      const queue = (await (await fetch(`${service.apiUrl}/queues/default`)).json()) as {
        pending_requests: number;
        batches_in_flight: number;
        batches_dispatched: number;
      };
      if (queue.pending_requests === 0 && queue.batches_in_flight === 0) {
        const done = performance.now();
        return {
          enqueue_rps: Math.round(total / ((enqueued - started) / 1000)),
          end_to_end_rps: Math.round(total / ((done - started) / 1000)),
          last_enqueue_to_last_result_s: Number(((done - enqueued) / 1000).toFixed(1)),
          batches: queue.batches_dispatched,
          cpu_ms_per_request: Number(((machineCpuMs().busy - cpu) / total).toFixed(2)),
        };
      }
      await sleep(200);
    }
  } finally {
    await service.stop();
    await sim.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const total = Number(process.argv[2] ?? 100_000);
  const count = Number(process.argv[3] ?? 16);
  const loadBefore = loadAverage();
  const baseline = await direct(total, count);
  const through = await queued(total, count);
  console.log(
    JSON.stringify({
      requests: total,
      producers: count,
      gpu: { depth: Number(GPU.SIMULATOR_CAPACITY), latencyMs: Number(GPU.SIMULATOR_BASE_LATENCY_MS) },
      direct: { rps: Math.round(baseline.rps), cpu_ms_per_request: Number(baseline.cpuMsPerRequest.toFixed(2)) },
      queue: through,
      end_to_end_ratio: Number((through.end_to_end_rps / baseline.rps).toFixed(3)),
      load_average_before: loadBefore,
      cores: os.cpus().length,
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
