import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import type { ClusterStatus } from '../../src/cluster/state';
import { chatLine, expectEachCustomIdOnce, readJsonl, uploadJsonl, waitForBatch } from '../support/batches';
import { built } from '../support/repo';
import { waitFor } from '../support/wait';

const CLUSTER = built('main/cluster.js');
/** The simulators' default model (src/simulator/config.ts). */
const MODEL = 'sim-llama-3.1-8b-instruct';
const LINES = 60;
/** Ports the cluster takes above CLUSTER_PORT_BASE (src/cluster/ports.ts), with room to spare. */
const PORT_SPAN = 32;

/**
 * `npm run cluster` end to end: the built entry point as a real process, the whole production
 * topology on free ports, a batch through the load balancer with the official SDK, an API replica
 * killed with SIGKILL and restarted, and `down` from another process leaving nothing behind.
 */
describe('npm run cluster', () => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let supervisor: ChildProcess;
  let portBase: number;
  const seenPids = new Set<number>();

  const cluster = (...args: string[]) => promisify(execFile)(process.execPath, [CLUSTER, ...args], { env });
  const status = async (): Promise<ClusterStatus> => {
    const status = JSON.parse((await cluster('status', '--json')).stdout) as ClusterStatus;
    for (const p of status.processes) if (p.pid !== undefined) seenPids.add(p.pid);
    seenPids.add(status.supervisor.pid);
    return status;
  };
  const supervisorLog = () => fs.readFileSync(path.join(dataDir, 'supervisor.log'), 'utf8');

  beforeAll(async () => {
    if (!fs.existsSync(CLUSTER)) throw new Error(`${CLUSTER} is missing: run \`npm run build\``);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vllm-batch-cluster-'));
    portBase = await freeRange(PORT_SPAN + 1);
    env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATA_DIR: dataDir,
      PORT: String(portBase + PORT_SPAN),
      CLUSTER_PORT_BASE: String(portBase),
      LOG_LEVEL: 'info',
      // Inherited by every process: small chunks, so that one batch spreads over the GPU workers.
      CHUNK_SIZE: '10',
      // Idle workers stop at once anyway; this bounds `down` if one is not idle.
      SHUTDOWN_GRACE_MS: '5000',
    };
    const log = fs.openSync(path.join(dataDir, 'supervisor.log'), 'a');
    supervisor = spawn(process.execPath, [CLUSTER, 'up'], { env, stdio: ['ignore', log, log] });
    fs.closeSync(log);
  });

  afterAll(async () => {
    if (supervisor && supervisor.exitCode === null) await cluster('down').catch(() => undefined);
    // What went wrong inside the cluster, if anything did: the error lines of every process's log.
    const logs = path.join(dataDir, 'logs');
    const errors = fs.existsSync(logs) ? fs.readdirSync(logs).flatMap((file) => errorLines(path.join(logs, file)).map((line) => `${file}: ${line}`)) : [];
    if (errors.length > 0) console.warn(`error lines in the cluster's logs:\n${errors.join('\n')}`);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('brings up the topology, runs a batch through the load balancer, restarts a killed API, and down leaves nothing', async () => {
    // 1. Every process alive and the supervisor ready.
    const up = await waitFor(
      async () => {
        if (supervisor.exitCode !== null) throw new Error(`cluster exited with ${supervisor.exitCode}:\n${supervisorLog()}`);
        const s = await status().catch(() => undefined);
        return s?.ready && s.processes.every((p) => p.alive) ? s : undefined;
      },
      { timeoutMs: 150_000, intervalMs: 1000, what: 'the cluster to be up' },
    );
    const roles = up.processes.reduce<Record<string, number>>((count, p) => ({ ...count, [p.role]: (count[p.role] ?? 0) + 1 }), {});
    // The Temporal UI serves, pointed at the cluster's server.
    expect((await fetch(up.temporalUiUrl)).ok).toBe(true);
    expect(roles).toEqual({ postgres: 1, temporal: 1, 'temporal-ui': 1, simulator: 4, api: 2, orchestrator: 2, 'gpu-worker': 3, 'load-balancer': 1 });

    // 2. A batch through the load balancer, with the official SDK.
    const client = new OpenAI({ baseURL: `${up.url}/v1`, apiKey: 'unused-in-open-mode', maxRetries: 0 });
    const customIds = Array.from({ length: LINES }, (_, i) => `line-${i}`);
    const file = await uploadJsonl(
      client,
      customIds.map((id) => chatLine(id, MODEL, `hello ${id}`)),
    );
    const created = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const batch = await waitForBatch(client, created.id, (b) => b.status === 'completed', 90_000);
    const output = await readJsonl(client, batch.output_file_id);
    expectEachCustomIdOnce(customIds, output, await readJsonl(client, batch.error_file_id));
    expect(output).toHaveLength(LINES);

    // Both API replicas answered through haproxy (its statistics: requests per server).
    const served = await apiRequestsServed(portBase);
    expect(served['api-1']).toBeGreaterThan(0);
    expect(served['api-2']).toBeGreaterThan(0);
    // The requests ran on the backends, which only the GPU workers call: spread over several of them.
    const perBackend = await Promise.all(up.processes.filter((p) => p.role === 'simulator').map((p) => simulatorRequests(p.port)));
    expect(perBackend.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(LINES);
    expect(perBackend.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);

    // 3. Temporal paused: the API replicas stay in rotation (the load balancer checks that they serve,
    // not that their dependencies do), so reads go on and a create is answered by the API itself
    // with a 503 that says why. Found by the soak: with /readyz as the check, haproxy took both
    // replicas out and answered every call with its own 503.
    const temporalPid = up.processes.find((p) => p.role === 'temporal')!.pid!;
    process.kill(-temporalPid, 'SIGSTOP');
    try {
      const refused = await waitFor(
        async () => {
          const err = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }).catch((e: unknown) => e);
          return err instanceof OpenAI.APIError && err.status === 503 ? err : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 1000, what: 'a create refused while Temporal is paused' },
      );
      expect(refused.code).toBe('temporal_unavailable');
      // Longer than haproxy's check takes to drop a server (2 failed checks, 1 s apart).
      for (const started = Date.now(); Date.now() - started < 4_000;) {
        await expect(client.batches.retrieve(batch.id)).resolves.toMatchObject({ status: 'completed' });
      }
    } finally {
      process.kill(-temporalPid, 'SIGCONT');
    }

    // 4. kill -9 of an API replica: restarted by the supervisor, and the load balancer answers meanwhile.
    const victim = up.processes.find((p) => p.name === 'api-1')!;
    process.kill(victim.pid!, 'SIGKILL');
    for (let i = 0; i < 10; i++) await expect(client.batches.retrieve(batch.id)).resolves.toMatchObject({ status: 'completed' });
    await waitFor(
      async () => {
        const api1 = (await status()).processes.find((p) => p.name === 'api-1')!;
        return api1.alive && api1.pid !== victim.pid;
      },
      { timeoutMs: 30_000, intervalMs: 500, what: 'api-1 restarted' },
    );
    expect(supervisorLog()).toContain('process exited: restarting it');
    await waitFor(async () => (await apiRequestsServed(portBase).catch((): Record<string, number> => ({})))['api-1'] !== undefined, { what: 'haproxy stats' });
    await expect(client.batches.list({ limit: 1 })).resolves.toBeDefined();

    // 5. `down` from another process: every process the cluster ever ran is gone, and nothing runs on DATA_DIR.
    await status();
    await cluster('down');
    await waitFor(() => supervisor.exitCode !== null, { timeoutMs: 10_000, what: 'the supervisor to exit' });
    expect(supervisor.exitCode).toBe(0);
    expect([...seenPids].filter(isAlive)).toEqual([]);
    expect(processesMentioning(dataDir)).toEqual([]);
    const after = await status();
    expect(after.processes.filter((p) => p.alive)).toEqual([]);
    // Start-up is most of it (a first start creates Temporal's shards); the whole test takes about STARTUP.
  }, 300_000);
});

/** Our processes' pino lines at level error (50) or fatal (60). */
function errorLines(file: string): string[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => /"level":[56]0/.test(line));
}

/** Requests each API replica has served, from haproxy's statistics (CSV: pxname, svname, …, stot). */
async function apiRequestsServed(portBase: number): Promise<Record<string, number>> {
  const csv = await (await fetch(`http://127.0.0.1:${portBase + 10}/;csv`)).text();
  const [header, ...rows] = csv.replace(/^# /, '').trim().split('\n');
  const columns = header!.split(',');
  const at = (row: string[], column: string) => row[columns.indexOf(column)]!;
  return Object.fromEntries(
    rows
      .map((line) => line.split(','))
      .filter((row) => at(row, 'pxname') === 'api' && at(row, 'svname').startsWith('api-'))
      .map((row) => [at(row, 'svname'), Number(at(row, 'stot'))]),
  );
}

async function simulatorRequests(port: number): Promise<number> {
  return ((await (await fetch(`http://127.0.0.1:${port}/sim/stats`)).json()) as { requests: number }).requests;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Processes whose command line names `dir` (PostgreSQL's data directory, Temporal's and haproxy's config files). */
function processesMentioning(dir: string): string[] {
  return fs
    .readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      } catch {
        return '';
      }
    })
    .filter((cmdline) => cmdline.includes(dir));
}

/** A run of `count` consecutive free loopback ports below Linux's ephemeral range, so no client socket takes one meanwhile. */
async function freeRange(count: number): Promise<number> {
  for (;;) {
    const base = 20_000 + Math.floor(Math.random() * (12_000 - count));
    const free = await Promise.all(Array.from({ length: count }, (_, i) => portFree(base + i)));
    if (free.every(Boolean)) return base;
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
