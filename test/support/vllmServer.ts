import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT as REPO } from './repo';
import { waitFor } from './wait';

/** The virtualenv of `scripts/ensure-vllm.sh` (installed on first use, cached outside the clone). */
export function vllmVirtualenv(): string {
  const out = execFileSync(path.join(REPO, 'scripts/ensure-vllm.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return out.trim().split('\n').at(-1)!;
}

/** Builds the tiny random-weight Llama of test/vllm/build_tiny_model.py into `dir`. */
export function buildTinyModel(venv: string, dir: string): void {
  execFileSync(path.join(venv, 'bin/python'), [path.join(REPO, 'test/vllm/build_tiny_model.py'), dir], { stdio: ['ignore', 'ignore', 'inherit'] });
}

/** The engine of every real-vLLM run here, `vllm serve`'s or `run_batch`'s: the tiny model on CPU in float32, eager. */
export const vllmEngineArgs = (modelDir: string, name: string): string[] => [
  '--model',
  modelDir,
  '--served-model-name',
  name,
  '--max-model-len',
  '512',
  '--enforce-eager',
  '--dtype',
  'float32',
];

/** vLLM's environment: a 1 GB KV cache on CPU, no model hub, no usage reports. */
export const vllmEnv = (): NodeJS.ProcessEnv => ({ ...process.env, VLLM_CPU_KVCACHE_SPACE: '1', HF_HUB_OFFLINE: '1', VLLM_NO_USAGE_STATS: '1' });

export type VllmServer = { baseUrl: string; pid: number; stop(): Promise<void> };

/**
 * A real vLLM OpenAI server on CPU serving `modelDir` as `name` on `port`, ready once it lists the
 * model (about 50 s here). It runs in a process group of its own, so stopping it stops its engine
 * process too. Its log goes to `logFile`.
 */
export async function startVllm(options: {
  venv: string;
  modelDir: string;
  name: string;
  port: number;
  logFile: string;
  /** An embedding server: the same weights as a pooling model (`--runner pooling --convert embed`). */
  embeddings?: boolean;
}): Promise<VllmServer> {
  const log = fs.openSync(options.logFile, 'a');
  const child = spawn(
    path.join(options.venv, 'bin/python'),
    [
      '-m',
      'vllm.entrypoints.openai.api_server',
      ...vllmEngineArgs(options.modelDir, options.name),
      '--host',
      '127.0.0.1',
      '--port',
      String(options.port),
      ...(options.embeddings ? ['--runner', 'pooling', '--convert', 'embed'] : []),
    ],
    // `vllm serve` fails under the vllm-cpu package name; the module entry point works.
    { env: vllmEnv(), stdio: ['ignore', log, log], detached: true },
  );
  fs.closeSync(log);
  const baseUrl = `http://127.0.0.1:${options.port}/v1`;
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`vLLM exited with ${child.exitCode}; see ${options.logFile}`);
        return fetch(`${baseUrl}/models`).then(
          (r) => r.ok,
          () => false,
        );
      },
      { timeoutMs: 240_000, intervalMs: 1000, what: `vLLM on port ${options.port}` },
    );
  } catch (err) {
    await stopProcessGroup(child);
    throw err;
  }
  return { baseUrl, pid: child.pid!, stop: () => stopProcessGroup(child) };
}

/** Stops a process started with `detached: true` and its whole group: SIGTERM, SIGKILL after 20 s. */
export async function stopProcessGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(-child.pid!, 'SIGTERM');
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }, 20_000);
  await exited;
  clearTimeout(timer);
}
