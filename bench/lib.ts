import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Agent } from 'undici';
import { TERMINAL_STATUSES } from '../src/states/batch';
import type { SimulatorStats } from '../src/simulator/server';
import { freePort } from '../test/support/ports';
import { built } from '../test/support/repo';
import { startServiceProcess, type ServiceProcess } from '../test/support/serviceProcess';

export { freePort };

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `npm start`'s entry point (built) with `env`, as the end-to-end tests do, once it is ready.
 * BENCH_CPU_PROFILE_DIR=dir writes the service's V8 CPU profile there when it stops (open it in Chrome DevTools).
 */
export function startService(env: Record<string, string>): Promise<ServiceProcess> {
  const dir = process.env.BENCH_CPU_PROFILE_DIR;
  return startServiceProcess({ LOG_LEVEL: 'warn', ...env }, { nodeArgs: dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [] });
}

/**
 * The built simulator as its own process, as a real vLLM is: its CPU is then the machine's, not
 * the bench's. `options` are SIMULATOR_* variables without the prefix's values converted.
 */
export async function startSimulatorProcess(
  env: Record<string, string>,
): Promise<{ baseUrl: string; pid: number; stats(): Promise<Pick<SimulatorStats, 'peakInService' | 'firstArrivalAt'>>; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(process.execPath, [built('main/simulator.js')], {
    env: { ...process.env, LOG_LEVEL: 'warn', ...env, SIMULATOR_PORT: String(port), SIMULATOR_HOST: '127.0.0.1' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const baseUrl = `http://127.0.0.1:${port}/v1`;
  for (let tries = 0; ; tries++) {
    const up = await fetch(`${baseUrl}/models`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) break;
    if (tries > 100 || child.exitCode !== null) throw new Error('simulator did not start');
    await sleep(100);
  }
  return {
    baseUrl,
    pid: child.pid!,
    stats: () => getJson<SimulatorStats>(`http://127.0.0.1:${port}/sim/stats`),
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGINT');
      }),
  };
}

/** Machine-wide CPU time (all processes, all cores) from /proc/stat, in milliseconds. */
export function machineCpuMs(): { busy: number; idle: number } {
  const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const tick = 1000 / 100; // USER_HZ is 100 on Linux
  const idle = (fields[3]! + fields[4]!) * tick;
  const total = fields.slice(0, 8).reduce((a, b) => a + b, 0) * tick;
  return { busy: total - idle, idle };
}

/** The 1-minute load average: a loaded machine flatters a ratio, so every report carries it. */
export const loadAverage = () => Number(fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);

/** Peak resident memory per process of a process tree, sampled from /proc. */
export class RssSampler {
  readonly peaks = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly rootPids: number[]) {}

  start(intervalMs = 500): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }

  report(): Array<{ process: string; peakMb: number }> {
    return [...this.peaks].map(([process, peakMb]) => ({ process, peakMb })).sort((a, b) => b.peakMb - a.peakMb);
  }

  private sample(): void {
    for (const pid of processTree(this.rootPids)) {
      const mb = rssMb(pid);
      if (mb === 0) continue;
      const name = `${(readProc(pid, 'comm') ?? '?').trim()}[${pid}]`;
      this.peaks.set(name, Math.max(this.peaks.get(name) ?? 0, mb));
    }
  }
}

export function rssMb(pid: number): number {
  const rss = /VmRSS:\s+(\d+) kB/.exec(readProc(pid, 'status') ?? '');
  return rss ? Math.round(Number(rss[1]) / 1024) : 0;
}

/** The processes `rootPids` and all their descendants, from /proc. */
function processTree(rootPids: number[]): number[] {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const ppid = Number(statFields(Number(entry))?.[1]);
    if (!Number.isNaN(ppid)) children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  const out: number[] = [];
  const visit = (pid: number) => {
    out.push(pid);
    for (const child of children.get(pid) ?? []) visit(child);
  };
  rootPids.forEach(visit);
  return out;
}

/**
 * CPU time (user + system, all threads) a process tree has used, in milliseconds: its live processes'
 * own, plus what the root's exited children used (reaped by it). Differences between two readings are
 * then exact, also for the children that come and go between them, as PostgreSQL's backends do.
 */
export function treeCpuMs(rootPid: number): number {
  const tick = 1000 / 100; // USER_HZ is 100 on Linux
  const own = (fields: string[] | undefined) => Number(fields?.[11] ?? 0) + Number(fields?.[12] ?? 0);
  const root = statFields(rootPid);
  const reaped = Number(root?.[13] ?? 0) + Number(root?.[14] ?? 0);
  return (processTree([rootPid]).reduce((sum, pid) => sum + own(statFields(pid)), 0) + reaped) * tick;
}

/** /proc/<pid>/stat from its third field (state, ppid, …): the command name before it may hold spaces. */
function statFields(pid: number): string[] | undefined {
  const stat = readProc(pid, 'stat');
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
}

function readProc(pid: number, file: string): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

/** Streams a JSONL upload as multipart/form-data without building the file in memory. */
export async function uploadJsonlStream(
  apiUrl: string,
  lines: () => Generator<string>,
  filename: string,
  headers: Record<string, string> = {},
): Promise<{ id: string; bytes: number }> {
  const boundary = `----bench${Date.now()}`;
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode(`--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n`));
      controller.enqueue(
        encoder.encode(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: application/jsonl\r\n\r\n`),
      );
    },
    pull: (() => {
      const iterator = lines();
      return (controller: ReadableStreamDefaultController<Uint8Array>) => {
        let batch = '';
        for (let i = 0; i < 2000; i++) {
          const next = iterator.next();
          if (next.done) {
            controller.enqueue(encoder.encode(batch + `\r\n--${boundary}--\r\n`));
            controller.close();
            return;
          }
          batch += next.value + '\n';
        }
        controller.enqueue(encoder.encode(batch));
      };
    })(),
  });
  const response = await fetch(`${apiUrl}/files`, {
    method: 'POST',
    headers: { ...headers, 'content-type': `multipart/form-data; boundary=${boundary}` },
    body,
    duplex: 'half',
  });
  if (!response.ok) throw new Error(`upload failed: ${response.status} ${await response.text()}`);
  return (await response.json()) as { id: string; bytes: number };
}

export type BatchState = {
  id: string;
  status: string;
  output_file_id: string | null;
  error_file_id: string | null;
  request_counts: { total: number; completed: number; failed: number };
  created_at: number;
  in_progress_at: number | null;
  finalizing_at: number | null;
  completed_at: number | null;
};

export async function getJson<T>(url: string, init?: RequestInit): Promise<T> {
  const response = await fetch(url, init);
  if (!response.ok) throw new Error(`${init?.method ?? 'GET'} ${url}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

export async function waitForTerminal(apiUrl: string, batchId: string, onProgress: (b: BatchState) => void): Promise<BatchState> {
  for (;;) {
    const batch = await getJson<BatchState>(`${apiUrl}/batches/${batchId}`);
    onProgress(batch);
    if ((TERMINAL_STATUSES as readonly string[]).includes(batch.status)) return batch;
    // Often enough not to add to a timed run noticeably: one cheap GET.
    await sleep(250);
  }
}

/** Counts output lines and checks they come in the order `expectedCustomId` gives, streaming. */
export async function verifyOutputOrder(apiUrl: string, fileId: string, expectedCustomId: (index: number) => string): Promise<number> {
  const response = await fetch(`${apiUrl}/files/${fileId}/content`);
  if (!response.ok || !response.body) throw new Error(`content: ${response.status}`);
  const decoder = new TextDecoder();
  let pending = '';
  let count = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    pending += decoder.decode(chunk, { stream: true });
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      if (!line) continue;
      const customId = (JSON.parse(line) as { custom_id: string }).custom_id;
      if (customId !== expectedCustomId(count)) throw new Error(`line ${count + 1}: ${customId}, expected ${expectedCustomId(count)}`);
      count++;
    }
  }
  return count;
}

/**
 * Counters of CPU ms (a process tree's, this process's own) read at a timed run's start and end: the
 * run reports their differences per request. On a shared machine they tell what machine-wide CPU cannot.
 */
export type CpuMeters = Record<string, () => number>;

/** This process's own CPU ms (user + system), as a meter. */
export const ownCpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

/**
 * A timed run of `total` requests: wall time, throughput, machine-wide CPU per request and each
 * meter's; for a batch its phases' seconds and machine-wide CPU ms per request in each status (seen
 * by polling every 250 ms).
 */
export type Run = {
  seconds: number;
  rps: number;
  cpuMsPerRequest: number;
  cpuMsPerRequestOf: Record<string, number>;
  phases?: Record<string, number>;
  cpuMsPerRequestByStatus?: Record<string, number>;
  /** When the batch was created (epoch ms): the backend's first arrival after it is the first request's delay. */
  createdAtMs?: number;
};

export async function measured(total: number, run: () => Promise<void>, meters: CpuMeters = {}): Promise<Run> {
  const cpu = machineCpuMs().busy;
  const before = Object.entries(meters).map(([name, read]) => [name, read()] as const);
  const started = Date.now();
  await run();
  const seconds = (Date.now() - started) / 1000;
  return {
    seconds,
    rps: total / seconds,
    cpuMsPerRequest: (machineCpuMs().busy - cpu) / total,
    cpuMsPerRequestOf: Object.fromEntries(before.map(([name, at]) => [name, (meters[name]!() - at) / total])),
  };
}

/** Line `i` of a chat batch input file, as the benches generate them. */
export const chatBatchLine = (i: number, body: unknown) => JSON.stringify({ custom_id: `r${i}`, method: 'POST', url: '/v1/chat/completions', body });

/**
 * The baseline client: `total` chat requests sent straight to the backend, `depth` of them in flight
 * at all times, with undici's request API on keep-alive connections, as the GPU worker sends them.
 */
export async function bareClient(baseUrl: string, total: number, depth: number, body: (i: number) => unknown, meters: CpuMeters = {}): Promise<Run> {
  const agent = new Agent({ keepAliveTimeout: 30_000 });
  const target = new URL(`${baseUrl}/chat/completions`);
  try {
    return await measured(
      total,
      async () => {
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
      },
      meters,
    );
  } finally {
    await agent.close();
  }
}

/**
 * The pipeline: a fresh service (`npm start`'s entry, default settings) in front of `baseUrl`, the
 * chat batch of `total` lines uploaded, then timed from batch creation to completed: validation,
 * execution and output files included, with the phases from the Batch object's own timestamps; the
 * service's process tree (Node, PostgreSQL, Temporal) is metered as `service`.
 */
export async function throughBatchServer(baseUrl: string, total: number, body: (i: number) => unknown, meters: CpuMeters = {}): Promise<Run> {
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
        for (let i = 0; i < total; i++) yield chatBatchLine(i, body(i));
      },
      'input.jsonl',
    );
    let phases: Record<string, number> = {};
    const cpuByStatus: Record<string, number> = {};
    let createdAtMs = 0;
    const run = await measured(
      total,
      async () => {
        let status = 'validating';
        let cpuAt = machineCpuMs().busy;
        createdAtMs = Date.now();
        const created = await getJson<BatchState>(`${service.apiUrl}/batches`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ input_file_id: file.id, completion_window: '24h' }),
        });
        const batch = await waitForTerminal(service.apiUrl, created.id, (b) => {
          if (b.status === status) return;
          const cpu = machineCpuMs().busy;
          cpuByStatus[status] = Number(((cpu - cpuAt) / total).toFixed(2));
          [status, cpuAt] = [b.status, cpu];
        });
        if (batch.status !== 'completed' || batch.request_counts.completed !== total) throw new Error(`batch ended ${JSON.stringify(batch)}`);
        // Where the time went, from the Batch object's own timestamps (whole seconds).
        phases = {
          validating_s: batch.in_progress_at! - batch.created_at,
          in_progress_s: batch.finalizing_at! - batch.in_progress_at!,
          finalizing_s: batch.completed_at! - batch.finalizing_at!,
        };
      },
      { ...meters, service: () => treeCpuMs(service.child.pid!) },
    );
    return { ...run, phases, cpuMsPerRequestByStatus: cpuByStatus, createdAtMs };
  } finally {
    await service.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
