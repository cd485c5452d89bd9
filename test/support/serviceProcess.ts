import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { freePort } from './ports';
import { waitFor } from './wait';

const ENTRY = path.resolve(__dirname, '../../dist/main/start.js');

export type ServiceProcess = {
  apiUrl: string;
  port: number;
  child: ChildProcess;
  output(): string;
  /** SIGKILL: no cleanup runs, exactly like a crash. */
  kill(): Promise<void>;
  /** SIGINT and wait for a clean exit; returns the exit code. */
  stop(): Promise<number | null>;
};

/**
 * Runs the built `npm start` entry point as a real child process. With TEMPORAL_ADDRESS,
 * DATABASE_URL and VLLM_BASE_URL in `env` it embeds nothing; without them it runs the embedded default.
 */
export async function startServiceProcess(env: Record<string, string>, options: { port?: number } = {}): Promise<ServiceProcess> {
  const port = options.port ?? (await freePort());
  const child = spawn(process.execPath, [ENTRY], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'info', ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const apiUrl = `http://127.0.0.1:${port}/v1`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`service exited with ${child.exitCode}:\n${output}`);
      return output.includes('vLLM Batch Server is ready');
    },
    { timeoutMs: 120_000, what: 'service start-up' },
  );
  return {
    apiUrl,
    port,
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
