import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { stablePort } from './ports';
import { built, HEAP_FLAGS } from './repo';
import { waitFor } from './wait';

export type Entry = 'start' | 'api' | 'worker';

export type ServiceProcess = {
  apiUrl: string;
  port: number;
  /**
   * GET /metrics on the metrics listener the process logged (every process here gets one: METRICS_PORT
   * is 0, a free port, unless env sets it), else on the API's port; the detailed GET /readyz is beside it.
   */
  metricsUrl: string;
  child: ChildProcess;
  output(): string;
  /** SIGKILL: no cleanup runs, exactly like a crash. */
  kill(): Promise<void>;
  /** SIGINT and wait for a clean exit; returns the exit code. */
  stop(): Promise<number | null>;
};

/** What each built entry point prints once it is ready to work. */
const READY_LINE: Record<Entry, string> = {
  start: 'vLLM Batch Server is ready',
  api: '"msg":"API ready"',
  worker: '"msg":"worker ready"',
};

/**
 * Runs a built entry point (`dist/main/<entry>.js`) as a real child process and waits until it is
 * ready. For `start`: with TEMPORAL_ADDRESS, DATABASE_URL and VLLM_BASE_URL in `env` it embeds
 * nothing; without them it runs the embedded default.
 */
export async function startServiceProcess(
  env: Record<string, string>,
  options: { port?: number; entry?: Entry; nodeArgs?: string[]; readyTimeoutMs?: number } = {},
): Promise<ServiceProcess> {
  const entry = options.entry ?? 'start';
  const script = built(`main/${entry}.js`);
  // End-to-end tests run the built service: `npm test` and `npm run test:e2e` build first.
  if (!fs.existsSync(script)) throw new Error(`${script} is missing: run \`npm run build\``);
  // Below the ephemeral range: the child binds its other listeners (metrics, simulator) on port 0, which could otherwise be handed this one.
  const port = options.port ?? (await stablePort());
  const child = spawn(process.execPath, [...HEAP_FLAGS, ...(options.nodeArgs ?? []), script], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'info', METRICS_PORT: '0', ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`${entry} exited with ${child.exitCode}:\n${output}`);
      return output.includes(READY_LINE[entry]);
    },
    { timeoutMs: options.readyTimeoutMs ?? 120_000, what: `${entry} start-up` },
  );
  const loggedMetricsUrl = /"metrics":"([^"]+)"/.exec(output)?.[1];
  return {
    apiUrl: `http://127.0.0.1:${port}/v1`,
    port,
    metricsUrl: loggedMetricsUrl ?? `http://127.0.0.1:${port}/metrics`,
    child,
    output: () => output,
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      child.kill('SIGINT');
      return exited;
    },
  };
}
