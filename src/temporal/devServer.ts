import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { logger } from '../logger';
import { readPidFile, stopChild, stopLeftoverProcess, waitUntil } from '../infra/processes';

/** Where `npm start`/`npm test` install the CLI when the machine has none (scripts/ensure-temporal-cli.sh). */
const PROJECT_CLI = path.resolve(__dirname, '../../.tools/temporal/bin/temporal');

/** TEMPORAL_CLI_PATH, else `temporal` on PATH, else the project-local install. */
export function findTemporalCli(configured: string | undefined): string {
  if (configured) {
    if (!fs.existsSync(configured)) throw new Error(`TEMPORAL_CLI_PATH=${configured} does not exist`);
    return configured;
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, 'temporal');
    if (dir && isExecutable(candidate)) return candidate;
  }
  if (isExecutable(PROJECT_CLI)) return PROJECT_CLI;
  throw new Error('Temporal CLI not found: set TEMPORAL_CLI_PATH, put `temporal` on PATH, or run scripts/ensure-temporal-cli.sh');
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

export type DevServerOptions = {
  cliPath: string;
  dataDir: string;
  port: number;
  uiPort: number;
  namespace: string;
  searchAttributes?: Record<string, 'Keyword' | 'Int' | 'Datetime' | 'Text' | 'Bool' | 'Double'>;
};

/** The server exited while starting, e.g. because a port it was given was taken meanwhile. */
export class DevServerExitedError extends Error {
  override readonly name = 'DevServerExitedError';
}

export type RunningDevServer = { address: string; uiUrl: string; stop: () => Promise<void> };

/**
 * Runs `temporal server start-dev` with its state in a SQLite file under dataDir, so workflows
 * survive a restart. A server left over by a killed previous run on the same dataDir is stopped first.
 */
export async function startDevServer(options: DevServerOptions): Promise<RunningDevServer> {
  fs.mkdirSync(options.dataDir, { recursive: true });
  const pidFile = path.join(options.dataDir, 'temporal.pid');
  const leftover = await readPidFile(pidFile);
  if (leftover && (await stopLeftoverProcess(leftover, 'start-dev', 'SIGTERM'))) {
    logger.warn({ leftover_pid: leftover }, 'stopped a Temporal dev server left over from a previous run');
  }

  const args = [
    'server',
    'start-dev',
    '--db-filename',
    path.join(options.dataDir, 'temporal.sqlite'),
    '--ip',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--ui-port',
    String(options.uiPort),
    '--namespace',
    options.namespace,
    '--log-level',
    'warn',
    // Task queue priority and fairness (batch priority, turns between tenants): opt-in on self-hosted
    // servers. Both hold within a partition; chunks are few per second, so one partition is plenty.
    ...dynamicConfig({
      'matching.useNewMatcher': true,
      'matching.enableFairness': true,
      'matching.enableMigration': true,
      'matching.numTaskqueueReadPartitions': 1,
      'matching.numTaskqueueWritePartitions': 1,
    }),
    // SQLite in WAL mode, synced at checkpoints rather than at every commit: each workflow start,
    // activity completion and heartbeat commits, and a full sync apiece doubled the time from
    // creating a batch to its first request. A crash or kill -9 of any process loses nothing; only
    // an OS crash or power cut can lose the server's last commits (a production deployment runs a
    // Temporal cluster on its own database: TEMPORAL_ADDRESS).
    '--sqlite-pragma',
    'journal_mode=wal',
    '--sqlite-pragma',
    'synchronous=normal',
    ...Object.entries(options.searchAttributes ?? {}).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
  ];
  const child = spawn(options.cliPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  fs.writeFileSync(pidFile, `${child.pid}\n`);
  const log = logger.child({ component: 'temporal-dev-server' });
  // The last words of a server that fails to start (a port taken, a bad flag) go into the error.
  let lastOutput = '';
  const onOutput = (data: Buffer) => {
    const text = data.toString().trim();
    log.debug(text);
    lastOutput = `${lastOutput}\n${text}`.slice(-2_000);
  };
  child.stdout.on('data', onOutput);
  child.stderr.on('data', onOutput);

  const address = `127.0.0.1:${options.port}`;
  const ready = await waitUntil(
    async () => {
      if (child.exitCode !== null) throw new DevServerExitedError(`temporal dev server exited with code ${child.exitCode}: ${lastOutput.trim()}`);
      return canConnect(address);
    },
    60_000,
    250,
  );
  if (!ready) {
    await stopChild(child, 'SIGKILL');
    throw new Error(`temporal dev server did not become ready on ${address}`);
  }
  return {
    address,
    uiUrl: `http://127.0.0.1:${options.uiPort}`,
    async stop() {
      await stopChild(child, 'SIGTERM');
      fs.rmSync(pidFile, { force: true });
    },
  };
}

async function canConnect(address: string): Promise<boolean> {
  try {
    const connection = await Connection.connect({ address, connectTimeout: 1000 });
    await connection.close();
    return true;
  } catch {
    return false;
  }
}

const dynamicConfig = (values: Record<string, boolean | number>) => Object.entries(values).flatMap(([key, value]) => ['--dynamic-config-value', `${key}=${value}`]);
