/**
 * A fleet in simulation (issue 27, item 3): ONE simulator process serving 64 simulated GPUs, each a
 * server of its own (SIMULATOR_GPUS: own port, capacity, queue and /metrics), 256 slots and 20 s a
 * request, so the fleet completes at most 64 × 256 / 20 ≈ 819 requests/s; behind N GPU worker
 * processes (WORKER_ROLES=inference, each with its share of the GPUs in VLLM_BASE_URL), one API and
 * one orchestrator process, on one PostgreSQL (embedded, as `npm run cluster` runs it) and one
 * Temporal dev server. Processes are `npm run cluster`'s pieces (src/cluster/: node processes,
 * PostgreSQL, the supervisor), a fresh deployment per scenario.
 *
 * Scenarios:
 *   lone     one batch of --lines lines (default 100,000)
 *   mixed    --batches batches (default 50) from --tenants tenants (default 10), --lines lines in all
 *            (default 100,000: 2,000 a batch), created at once
 *   failing  mixed, and once a quarter of the lines are done --down GPUs (default 8, the last ones)
 *            fail (--down-mode crash: in-flight connections reset, then refused; or 503)
 *
 * Reports a JSON line per scenario: the pipeline's steady throughput (the simulator's requests in
 * service while the pipeline has work to dispatch, over the latency: see `steady`) against the
 * fleet's capacity, the end-to-end time against an ideal pipeline's, failed lines, for `failing` the
 * throughput after against the surviving GPUs' capacity and the time until it is back, machine-wide and
 * per-process CPU ms per request, per-process peak RSS, and the load average before.
 *
 *   npm run bench:fleet -- [lone|mixed|failing ...] [--gauges vllm|none|both] [--workers 4] [--lines N]
 *       [--batches 50] [--tenants 10] [--gpus 64] [--slots 256] [--latency-s 20] [--down gpus/8]
 *       [--down-mode crash|503] [--fail-at 0.25] [--max-inflight 300] [--env NAME=VALUE ...] [--samples DIR]
 *
 * --gpus/--slots/--latency-s other than 64/256/20 are a scaled fleet, flagged `scaled` in the report.
 * --env passes a setting to every process of the service (e.g. --env CHUNKS_IN_FLIGHT_PER_BATCH=40).
 * --samples writes each scenario's once-a-second fleet totals to DIR/<scenario>-<gauges>.jsonl.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ClusterConfig } from '../src/cluster/config';
import { appEnv, nodeProcess, type AppEndpoints } from '../src/cluster/node';
import { createDatabases, DATABASES, databaseUrl, postgresServer } from '../src/cluster/postgres';
import { httpOk } from '../src/cluster/probes';
import { clusterPaths, pidFile } from '../src/cluster/state';
import { Supervisor } from '../src/cluster/supervisor';
import type { ProcessSpec } from '../src/cluster/topology';
import { TERMINAL_STATUSES } from '../src/states/batch';
import { findTemporalCli, startDevServer } from '../src/temporal/devServer';
import { stablePort, stablePortRange } from '../test/support/ports';
import { HEAP_MB, REPO_ROOT } from '../test/support/repo';
import { freePort, getJson, loadAverage, machineCpuMs, RssSampler, sleep, treeCpuMs, uploadJsonlStream, type BatchState } from './lib';

const MODEL = 'sim-fleet-bench';
const PROJECT_TEMPORAL_CLI = path.join(REPO_ROOT, '.tools/temporal/bin/temporal');
const SCENARIOS = ['lone', 'mixed', 'failing'] as const;
type Scenario = (typeof SCENARIOS)[number];
type Gauges = 'vllm' | 'none';
/** The issue's fleet: anything else is a scaled variant, and says so. */
const ISSUE_FLEET = { gpus: 64, slots: 256, latencyS: 20 };

type Options = {
  scenarios: Scenario[];
  gauges: Gauges[];
  workers: number;
  lines: number;
  batches: number;
  tenants: number;
  gpus: number;
  slots: number;
  latencyS: number;
  down: number;
  downMode: 'crash' | '503';
  failAt: number;
  maxInflight: number;
  env: Record<string, string>;
  samplesDir: string | undefined;
};

function parseArgs(argv: string[]): Options {
  const options: Options = {
    scenarios: [],
    gauges: ['vllm'],
    workers: 4,
    lines: 100_000,
    batches: 50,
    tenants: 10,
    ...ISSUE_FLEET,
    // Default: an eighth of the fleet, 8 of 64 GPUs (one 8-GPU host's worth).
    down: 0,
    downMode: 'crash',
    failAt: 0.25,
    // 64 GPUs × this many connections must fit the simulator's file descriptors (ulimit -n 20000 here):
    // the default ceiling, 1024, would allow 65,536. 300 is 17% above a GPU's 256 slots.
    maxInflight: 300,
    env: {},
    samplesDir: undefined,
  };
  const numbers: Record<string, keyof Options> = {
    '--workers': 'workers',
    '--lines': 'lines',
    '--batches': 'batches',
    '--tenants': 'tenants',
    '--gpus': 'gpus',
    '--slots': 'slots',
    '--latency-s': 'latencyS',
    '--down': 'down',
    '--fail-at': 'failAt',
    '--max-inflight': 'maxInflight',
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    if ((SCENARIOS as readonly string[]).includes(arg)) options.scenarios.push(arg as Scenario);
    else if (arg in numbers) {
      const n = Number(value());
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${arg} must be a positive number`);
      (options as Record<string, unknown>)[numbers[arg]!] = n;
    } else if (arg === '--gauges') {
      const gauges = value();
      if (!['vllm', 'none', 'both'].includes(gauges)) throw new Error('--gauges is vllm, none or both');
      options.gauges = gauges === 'both' ? ['vllm', 'none'] : [gauges as Gauges];
    } else if (arg === '--down-mode') {
      const mode = value();
      if (mode !== 'crash' && mode !== '503') throw new Error('--down-mode is crash or 503');
      options.downMode = mode;
    } else if (arg === '--samples') {
      options.samplesDir = value();
      fs.mkdirSync(options.samplesDir, { recursive: true });
    } else if (arg === '--env') {
      const [name, ...rest] = value().split('=');
      if (!name || rest.length === 0) throw new Error('--env takes NAME=VALUE');
      options.env[name] = rest.join('=');
    } else throw new Error(`unknown argument ${arg}: see the comment at the top of bench/fleet.ts`);
  }
  if (options.scenarios.length === 0) options.scenarios = [...SCENARIOS];
  if (options.down === 0) options.down = Math.max(1, Math.round(options.gpus / 8));
  if (options.down >= options.gpus) throw new Error('--down must leave a GPU up');
  return options;
}

const tenantKey = (tenant: number) => `fleet-bench-key-${tenant}`;
const auth = (tenant: number) => ({ authorization: `Bearer ${tenantKey(tenant)}` });

type Fleet = {
  apiUrl: string;
  /** The simulator's root on GPU 0's port, which never fails: its fleet and control routes. */
  simulatorRoot: string;
  /** Process name → PID, for CPU and memory per process. */
  pids(): Map<string, number>;
  stop(): Promise<void>;
};

/** Starts the deployment: PostgreSQL, Temporal, the simulated fleet, the API, the orchestrator, the GPU workers. */
async function startFleet(o: Options, gauges: Gauges): Promise<Fleet> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vllm-batch-bench-fleet-'));
  // `npm run cluster`'s configuration, with what this deployment does not run (its load balancer, a full Temporal server) unused.
  const config: ClusterConfig = {
    PORT: 0,
    DATA_DIR: dataDir,
    CLUSTER_PORT_BASE: await stablePort(),
    TEMPORAL_NAMESPACE: 'default',
    TEMPORAL_NAMESPACE_RETENTION_HOURS: 24,
    TEMPORAL_SERVER_DIR: '',
    HAPROXY_PATH: '',
    LOG_LEVEL: 'warn',
    node: { distDir: path.join(REPO_ROOT, 'dist'), heapMb: HEAP_MB },
  };
  const paths = clusterPaths(dataDir);
  const supervisor = new Supervisor(paths);
  const names: string[] = [];
  let stopTemporal = async () => {};
  const stop = async () => {
    await supervisor.stopAll();
    await stopTemporal();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  const start = async (spec: ProcessSpec) => {
    names.push(spec.name);
    await supervisor.start(spec, 120_000);
  };
  try {
    const postgres = await postgresServer(config);
    await start(postgres.spec);
    await createDatabases(postgres, [DATABASES.app]);
    const temporal = await startDevServer({
      // Compiled into dist-bench/, findTemporalCli would look for the project's CLI there.
      cliPath: findTemporalCli(process.env.TEMPORAL_CLI_PATH ?? (fs.existsSync(PROJECT_TEMPORAL_CLI) ? PROJECT_TEMPORAL_CLI : undefined)),
      dataDir,
      port: await freePort(),
      uiPort: await freePort(),
      namespace: config.TEMPORAL_NAMESPACE,
    });
    stopTemporal = temporal.stop;
    const endpoints: AppEndpoints = {
      databaseUrl: databaseUrl(postgres, DATABASES.app),
      temporalAddress: temporal.address,
      // A stopped deployment need not drain: the scenario is over.
      extraEnv: { SHUTDOWN_GRACE_MS: '5000', ...o.env },
    };

    const simulatorPort = await stablePortRange(o.gpus);
    const gpuUrls = Array.from({ length: o.gpus }, (_, i) => `http://127.0.0.1:${simulatorPort + i}/v1`);
    await start(
      nodeProcess(config, 'simulator', {
        name: 'simulator',
        role: 'simulator',
        service: 'simulator',
        port: simulatorPort,
        env: {
          SIMULATOR_PORT: String(simulatorPort),
          SIMULATOR_HOST: '127.0.0.1',
          SIMULATOR_GPUS: String(o.gpus),
          SIMULATOR_MODELS: MODEL,
          SIMULATOR_CAPACITY: String(o.slots),
          SIMULATOR_BASE_LATENCY_MS: String(o.latencyS * 1000),
          SIMULATOR_MS_PER_OUTPUT_TOKEN: '0',
          SIMULATOR_MS_PER_PROMPT_TOKEN: '0',
          SIMULATOR_GAUGES: gauges,
          LOG_LEVEL: config.LOG_LEVEL,
        },
        ready: () => httpOk(`${gpuUrls[gpuUrls.length - 1]}/models`),
      }),
    );

    const apiPort = await stablePort();
    await start(
      nodeProcess(config, 'api', {
        name: 'api',
        role: 'api',
        service: 'api',
        port: apiPort,
        env: {
          ...appEnv(config, endpoints),
          PORT: String(apiPort),
          HOST: '127.0.0.1',
          METRICS_PORT: String(await freePort()),
          API_KEYS: Array.from({ length: o.tenants }, (_, t) => `${tenantKey(t)}:tenant-${t}`).join(','),
        },
        ready: () => httpOk(`http://127.0.0.1:${apiPort}/readyz`),
      }),
    );
    const worker = async (name: string, role: 'orchestrator' | 'gpu-worker', env: Record<string, string>): Promise<ProcessSpec> => {
      const metricsPort = await freePort();
      return nodeProcess(config, 'worker', {
        name,
        role,
        service: role,
        port: metricsPort,
        env: { ...appEnv(config, endpoints), METRICS_PORT: String(metricsPort), ...env },
        ready: () => httpOk(`http://127.0.0.1:${metricsPort}/readyz`),
      });
    };
    const workers = [
      await worker('orchestrator', 'orchestrator', { WORKER_ROLES: 'orchestrator', MAX_REQUESTS_PER_BATCH: String(o.lines) }),
      ...(await Promise.all(
        Array.from({ length: o.workers }, (_, w) =>
          worker(`gpu-worker-${w + 1}`, 'gpu-worker', {
            WORKER_ROLES: 'inference',
            // A contiguous share of the GPUs each, as GPU hosts own theirs.
            VLLM_BASE_URL: gpuUrls
              .map((url, i) => ({ url, i }))
              .filter(({ i }) => Math.floor((i * o.workers) / o.gpus) === w)
              .map(({ url, i }) => `gpu-${i}=${url}`)
              .join(','),
            MAX_INFLIGHT_PER_BACKEND: String(o.maxInflight),
          }),
        ),
      )),
    ];
    await Promise.all(workers.map(start));
    const apiUrl = `http://127.0.0.1:${apiPort}/v1`;
    // Batches validate against the models live GPU workers announce.
    for (;;) {
      const models = await getJson<{ data: Array<{ id: string }> }>(`${apiUrl}/models`, { headers: auth(0) }).catch(() => ({ data: [] }));
      if (models.data.some((m) => m.id === MODEL)) break;
      await sleep(500);
    }
    return {
      apiUrl,
      simulatorRoot: `http://127.0.0.1:${simulatorPort}`,
      pids: () => {
        const pids = new Map<string, number>();
        for (const name of names) {
          const pid = Number(fs.readFileSync(pidFile(paths, name), 'utf8').trim());
          if (pid > 0) pids.set(name, pid);
        }
        const temporalPid = Number(fs.readFileSync(path.join(dataDir, 'temporal.pid'), 'utf8').trim());
        if (temporalPid > 0) pids.set('temporal', temporalPid);
        return pids;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

type Sample = { t: number; requests: number; completed: number; inService: number; queued: number; gpusUp: number };

/** The simulator's fleet totals once a second, from the scenario's start (t in ms). */
class FleetSampler {
  readonly samples: Sample[] = [];
  private timer: NodeJS.Timeout | undefined;
  constructor(
    private readonly root: string,
    private readonly startedAt: number,
  ) {}

  start(): void {
    const sample = async () => {
      const { total } = await getJson<{ total: Omit<Sample, 't'> }>(`${this.root}/sim/fleet`);
      const { requests, completed, inService, queued, gpusUp } = total;
      this.samples.push({ t: Date.now() - this.startedAt, requests, completed, inService, queued, gpusUp });
    };
    const tick = () => {
      this.timer = setTimeout(() => void sample().then(tick, tick), 1000 - ((Date.now() - this.startedAt) % 1000));
    };
    void sample().then(tick, tick);
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  get latest(): Sample | undefined {
    return this.samples[this.samples.length - 1];
  }
}

const round = (n: number, digits = 3) => Number(n.toFixed(digits));

/** The mean of the requests in service over the samples from `from` to `to` (ms), inclusive. */
function meanInService(samples: Sample[], from: number, to: number): number {
  const span = samples.filter((s) => s.t >= from && s.t <= to);
  return span.length === 0 ? 0 : span.reduce((sum, s) => sum + s.inService, 0) / span.length;
}

/**
 * Steady state: while the pipeline has work to dispatch — lines neither completed nor at the fleet
 * (in service or queued there) — and enough lines are left to fill the GPUs up, from the first
 * arrival. After it the fleet only drains what it holds. (The last arrival would not do: one request
 * sent again late, after a failure, kept the window open through the drain.)
 *
 * Throughput is measured by Little's law, not by counting completions: every request takes exactly
 * the latency at the simulator, so the completions per second averaged over time are the mean in
 * service over the latency. Counted completions are useless here: requests sent together complete
 * together, so the fleet completes in waves of thousands 20 s apart, and a window's count depends on
 * how many wave fronts it happens to hold (one run "did" 1.2 × the fleet's capacity).
 */
function steady(samples: Sample[], slotsPerGpu: number, totalSlots: number, totalLines: number) {
  const firstArrival = samples.find((s) => s.requests > 0);
  if (!firstArrival) return undefined;
  const undispatched = (s: Sample) => totalLines - s.completed - s.inService - s.queued;
  // Work left that can fill the GPUs up: at the very end, fewer lines are left than slots.
  const canFill = (s: Sample) => undispatched(s) > 0 && totalLines - s.completed >= s.gpusUp * slotsPerGpu;
  const lastBusy = [...samples].reverse().find((s) => s.t >= firstArrival.t && canFill(s)) ?? firstArrival;
  return {
    window_s: round((lastBusy.t - firstArrival.t) / 1000, 1),
    occupancy: meanInService(samples, firstArrival.t, lastBusy.t) / totalSlots,
    firstArrival,
    lastBusy,
  };
}

async function runScenario(o: Options, scenario: Scenario, gauges: Gauges): Promise<Record<string, unknown>> {
  const capacityRps = (o.gpus * o.slots) / o.latencyS;
  const plan =
    scenario === 'lone'
      ? [{ tenant: 0, lines: o.lines }]
      : Array.from({ length: o.batches }, (_, b) => ({ tenant: b % o.tenants, lines: Math.floor(o.lines / o.batches) + (b < o.lines % o.batches ? 1 : 0) }));
  const totalLines = plan.reduce((sum, p) => sum + p.lines, 0);
  const fleet = await startFleet(o, gauges);
  try {
    const { apiUrl } = fleet;
    // Uploaded before the clock starts, a few at a time.
    const files: string[] = [];
    for (let b = 0; b < plan.length; b += 8) {
      const uploads = plan.slice(b, b + 8).map((p, k) =>
        uploadJsonlStream(
          apiUrl,
          function* () {
            for (let i = 0; i < p.lines; i++) {
              const body = { model: MODEL, messages: [{ role: 'user', content: `Batch ${b + k} request ${i}` }], max_tokens: 16 };
              yield JSON.stringify({ custom_id: `b${b + k}-r${i}`, method: 'POST', url: '/v1/chat/completions', body });
            }
          },
          `fleet-${b + k}.jsonl`,
          auth(p.tenant),
        ),
      );
      files.push(...(await Promise.all(uploads)).map((f) => f.id));
    }
    const pids = fleet.pids();
    const rss = new RssSampler([process.pid]);
    rss.start(1000);
    const loadBefore = loadAverage();
    const cpuBefore = machineCpuMs().busy;
    const processCpuBefore = new Map([...pids].map(([name, pid]) => [name, treeCpuMs(pid)]));
    // Its own only: every process of the deployment is a descendant of this one.
    const benchCpuBefore = process.cpuUsage();
    const startedAt = Date.now();
    const sampler = new FleetSampler(fleet.simulatorRoot, startedAt);
    sampler.start();

    const ids = await Promise.all(
      plan.map(async (p, b) => {
        const created = await getJson<BatchState>(`${apiUrl}/batches`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...auth(p.tenant) },
          body: JSON.stringify({ input_file_id: files[b], completion_window: '24h' }),
        });
        return created.id;
      }),
    );
    const pending = new Set(ids);
    const finished = new Map<string, BatchState>();
    const tenants = [...new Set(plan.map((p) => p.tenant))];
    const downGpus = Array.from({ length: o.down }, (_, i) => o.gpus - o.down + i);
    let failAt: number | undefined;
    let lastLog = 0;
    while (pending.size > 0) {
      await sleep(1000);
      const latest = sampler.latest;
      if (scenario === 'failing' && failAt === undefined && latest && latest.completed >= o.failAt * totalLines) {
        await Promise.all(downGpus.map((gpu) => getJson(`${fleet.simulatorRoot}/sim/gpus/${gpu}/down?mode=${o.downMode}`, { method: 'POST' })));
        failAt = Date.now() - startedAt;
        console.error(`${(failAt / 1000).toFixed(0)}s: GPUs ${downGpus[0]}–${downGpus[downGpus.length - 1]} down (${o.downMode})`);
      }
      // One list per tenant rather than a GET per batch: 50 batches polled each second would load the API.
      for (const tenant of tenants) {
        const list = await getJson<{ data: BatchState[] }>(`${apiUrl}/batches?limit=100`, { headers: auth(tenant) });
        for (const batch of list.data) {
          if (pending.has(batch.id) && (TERMINAL_STATUSES as readonly string[]).includes(batch.status)) {
            pending.delete(batch.id);
            finished.set(batch.id, batch);
          }
        }
      }
      if (latest && Date.now() - lastLog >= 10_000) {
        lastLog = Date.now();
        console.error(
          `${(latest.t / 1000).toFixed(0)}s ${scenario}/${gauges}: ${latest.completed}/${totalLines} completed, ${latest.inService} in service (${round(latest.inService / (o.gpus * o.slots), 2)} of the slots), ${latest.queued} queued, ${latest.gpusUp} GPUs up, ${ids.length - pending.size}/${ids.length} batches done`,
        );
      }
    }
    const endToEndS = (Date.now() - startedAt) / 1000;
    const cpuMs = machineCpuMs().busy - cpuBefore;
    const processCpu = Object.fromEntries([...pids].map(([name, pid]) => [name, round((treeCpuMs(pid) - processCpuBefore.get(name)!) / totalLines)]));
    const benchCpu = process.cpuUsage(benchCpuBefore);
    processCpu.bench = round((benchCpu.user + benchCpu.system) / 1000 / totalLines);
    sampler.stop();
    rss.stop();
    // The simulator's fleet totals once a second, for a look at a run's course.
    if (o.samplesDir) fs.writeFileSync(path.join(o.samplesDir, `${scenario}-${gauges}.jsonl`), sampler.samples.map((s) => JSON.stringify(s)).join('\n') + '\n');

    const batches = [...finished.values()];
    const counts = batches.reduce((sum, b) => ({ completed: sum.completed + b.request_counts.completed, failed: sum.failed + b.request_counts.failed }), {
      completed: 0,
      failed: 0,
    });
    const samples = sampler.samples;
    const totalSlots = o.gpus * o.slots;
    const state = steady(samples, o.slots, totalSlots, totalLines);
    const names = new Map([...pids, ['bench', process.pid] as const].map(([name, pid]) => [pid, name]));
    const idealS = totalLines / capacityRps + o.latencyS;
    return {
      scenario,
      gauges,
      lines: totalLines,
      batches: plan.length,
      tenants: tenants.length,
      gpu_workers: o.workers,
      fleet: {
        gpus: o.gpus,
        slots: o.slots,
        latency_s: o.latencyS,
        capacity_rps: round(capacityRps, 1),
        ...(o.gpus !== ISSUE_FLEET.gpus || o.slots !== ISSUE_FLEET.slots || o.latencyS !== ISSUE_FLEET.latencyS ? { scaled: true } : {}),
      },
      statuses: Object.fromEntries(batches.reduce((m, b) => m.set(b.status, (m.get(b.status) ?? 0) + 1), new Map<string, number>())),
      request_counts: { total: totalLines, ...counts },
      failed_lines: counts.failed + (totalLines - counts.completed - counts.failed),
      // The headline: what the pipeline kept the fleet doing while it had work, against what the fleet can do.
      steady: state && {
        window_s: state.window_s,
        rps: round(state.occupancy * capacityRps, 1),
        ratio: round(state.occupancy),
        first_request_s: round(state.firstArrival.t / 1000, 1),
      },
      end_to_end_s: round(endToEndS, 1),
      // A perfect pipeline: the fleet full from the batch's creation, results written at no cost.
      ideal_s: round(idealS, 1),
      end_to_end_ratio: round(idealS / endToEndS),
      ...(scenario === 'failing' && failAt !== undefined ? { failure: failure(samples, failAt, o, capacityRps, state?.firstArrival, state?.lastBusy) } : {}),
      simulator_requests: samples[samples.length - 1]?.requests,
      // Machine-wide includes whatever else runs on the machine (see the load average); per process, this deployment's own.
      cpu_ms_per_request: {
        machine: round(cpuMs / totalLines),
        deployment: round(Object.values(processCpu).reduce((a, b) => a + b, 0)),
        ...processCpu,
      },
      cores_busy: round(cpuMs / (endToEndS * 1000), 2),
      peak_rss_mb: peakRss(rss, names),
      max_inflight_per_backend: o.maxInflight,
      env: o.env,
      load_average_before: loadBefore,
      cores: os.cpus().length,
    };
  } finally {
    await fleet.stop();
  }
}

/** Per named process; the others (PostgreSQL's backends, which share its memory) by command: how many, and the largest. */
function peakRss(rss: RssSampler, names: Map<number, string>): Record<string, number | string> {
  const named: Record<string, number | string> = {};
  const others = new Map<string, number[]>();
  for (const { process: name, peakMb } of rss.report()) {
    const [, command, pid] = /^(.*)\[(\d+)\]$/.exec(name) ?? [undefined, name, '0'];
    const known = names.get(Number(pid));
    if (known) named[known] = peakMb;
    else others.set(command, [...(others.get(command) ?? []), peakMb]);
  }
  for (const [command, peaks] of others) named[`${command} (others)`] = `${peaks.length} processes, largest ${Math.max(...peaks)}`;
  return named;
}

/**
 * After `down` GPUs fail, by the requests in service (Little's law, as `steady`): the throughput
 * before and after against the capacity of the fleet and of the surviving GPUs; how long until it is
 * back to the survivors' capacity to within 5 % — the mean in service over the preceding latency (or
 * since the failure, if shorter) at 95 % of the surviving slots or more — and the lowest that mean
 * fell to from then until the pipeline ran out of work (its last seconds included: the end of a run,
 * when the last lines are not spread evenly over the GPUs, shows there too).
 */
function failure(samples: Sample[], failAtMs: number, o: Options, capacityRps: number, firstArrival: Sample | undefined, lastBusy: Sample | undefined) {
  const latencyMs = o.latencyS * 1000;
  const survivingSlots = (o.gpus - o.down) * o.slots;
  const end = (lastBusy ?? samples[samples.length - 1]!).t;
  const windows = samples
    .filter((s) => s.t > failAtMs && s.t <= end)
    .map((s) => ({ t: s.t, share: meanInService(samples, Math.max(failAtMs, s.t - latencyMs), s.t) / survivingSlots }));
  const back = windows.findIndex((w) => w.share >= 0.95);
  const before = meanInService(samples, firstArrival?.t ?? 0, failAtMs);
  const after = meanInService(samples, failAtMs, end);
  return {
    gpus_down: o.down,
    mode: o.downMode,
    at_s: round(failAtMs / 1000, 1),
    before_rps: round(before / o.latencyS, 1),
    before_ratio: round(before / o.latencyS / capacityRps),
    after_rps: round(after / o.latencyS, 1),
    after_ratio_of_surviving: round(after / survivingSlots),
    recovery_s: back === -1 ? null : round((windows[back]!.t - failAtMs) / 1000, 1),
    lowest_share_since: back === -1 ? null : round(Math.min(...windows.slice(back).map((w) => w.share))),
  };
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  for (const gauges of o.gauges) {
    for (const scenario of o.scenarios) console.log(JSON.stringify(await runScenario(o, scenario, gauges)));
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
