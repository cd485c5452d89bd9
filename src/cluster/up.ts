import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../config/env';
import { logger } from '../logger';
import { registerSecrets } from '../secrets';
import { ensureNamespace } from '../temporal/namespace';
import { apiProcesses } from './api';
import type { ClusterConfig } from './config';
import { gpuWorkerProcesses } from './gpuWorker';
import { loadBalancer } from './loadBalancer';
import type { AppEndpoints } from './node';
import { orchestratorProcesses } from './orchestrator';
import { createDatabases, DATABASES, databaseUrl, postgresServer } from './postgres';
import { simulatorBackends, simulatorProcesses, type Backend } from './simulator';
import { clusterPaths, clusterStatus, readState, stopCluster, writeState, type ClusterState } from './state';
import { Supervisor } from './supervisor';
import { temporalSchemaJobs, temporalServer } from './temporal';
import { temporalUi } from './temporalUi';
import { START_ORDER, type ProcessSpec } from './topology';

export type RunningCluster = { url: string; temporalUiUrl: string; processes: readonly ProcessSpec[]; stop: () => Promise<void> };

/** What a fault campaign changes in the topology; `npm run cluster` passes none. */
export type ClusterOptions = {
  /** Added to the environment of our processes (API, orchestrators, GPU workers): keys, webhook policy, tuning. */
  appEnv?: Readonly<Record<string, string>>;
  /** Where the GPU workers reach each backend, by name; a soak puts its fault proxies there. Default: the backend itself. */
  backendUrl?: (backend: Backend) => string;
};

/** How long one process may take to become ready at start-up: Temporal creates its shards on a first start. */
const READY_TIMEOUT_MS = { temporal: 180_000, other: 120_000 };

/**
 * `npm run cluster`: docker-compose.yml's topology as processes on this machine, started in compose's
 * order (postgres → temporal-schema and migrate → temporal → temporal-namespace → our processes),
 * each waited for until it serves, then the load balancer in front of the API replicas.
 */
export async function startCluster(config: ClusterConfig, options: ClusterOptions = {}): Promise<RunningCluster> {
  const paths = clusterPaths(config.DATA_DIR);
  await takeOver(paths);
  checkTools(config);

  const postgres = await postgresServer(config);
  registerSecrets([postgres.password]);
  const temporal = temporalServer(config, postgres);
  const endpoints: AppEndpoints = { databaseUrl: databaseUrl(postgres, DATABASES.app), temporalAddress: temporal.address, extraEnv: options.appEnv ?? {} };
  const backends = simulatorBackends(config).map((backend) => ({ ...backend, baseUrl: options.backendUrl?.(backend) ?? backend.baseUrl }));
  const apis = apiProcesses(config, endpoints);
  const ui = temporalUi(config, temporal.address);
  const processes = [
    postgres.spec,
    temporal.spec,
    ui.spec,
    ...simulatorProcesses(config),
    ...apis,
    ...orchestratorProcesses(config, endpoints),
    ...gpuWorkerProcesses(config, endpoints, backends),
    loadBalancer(config, apis),
  ];
  const url = `http://127.0.0.1:${config.PORT}`;
  const state: ClusterState = {
    // Its own command line, exactly as /proc shows it (argv[1] is resolved; the command line may not be).
    supervisor: { pid: process.pid, marker: fs.readFileSync('/proc/self/cmdline', 'utf8').replace(/\0/g, ' ').trim() },
    url,
    temporalUiUrl: ui.url,
    ready: false,
    processes: processes.map(({ name, role, service, port, marker, stopSignal, stopGraceMs }) => ({ name, role, service, port, marker, stopSignal, stopGraceMs })),
  };
  // Written before anything starts, so that `down` in another shell finds what a start-up in progress started.
  writeState(paths, state);

  const supervisor = new Supervisor(paths);
  try {
    for (const roles of START_ORDER) {
      // Compose's one-shot jobs and temporal-namespace, at the points its depends_on puts them.
      if (roles.includes('temporal')) await runOneShotJobs();
      await Promise.all(
        processes.filter((p) => roles.includes(p.role)).map((p) => supervisor.start(p, p.role === 'temporal' ? READY_TIMEOUT_MS.temporal : READY_TIMEOUT_MS.other)),
      );
      if (roles.includes('temporal'))
        await ensureNamespace(temporal.address, config.TEMPORAL_NAMESPACE, config.TEMPORAL_NAMESPACE_RETENTION_HOURS * 3600, READY_TIMEOUT_MS.temporal);
    }
  } catch (err) {
    await supervisor.stopAll();
    throw err;
  }
  writeState(paths, { ...state, ready: true });
  logger.info({ url, temporal_ui: ui.url, processes: processes.length }, 'cluster ready');
  return {
    url,
    temporalUiUrl: ui.url,
    processes,
    stop: async () => {
      await supervisor.stopAll();
      writeState(paths, { ...state, ready: false });
    },
  };

  /** Compose's one-shot jobs that need PostgreSQL only: the databases, Temporal's schema (temporal-schema), ours (migrate). */
  async function runOneShotJobs(): Promise<void> {
    await createDatabases(postgres, Object.values(DATABASES));
    for (const job of temporalSchemaJobs(config, postgres)) await supervisor.run(job);
    await supervisor.run({
      name: 'migrate',
      command: process.execPath,
      args: [path.join(config.node.distDir, 'main/migrate.js')],
      env: { DATABASE_URL: endpoints.databaseUrl, LOG_LEVEL: config.LOG_LEVEL },
    });
  }
}

/** One supervisor per DATA_DIR: a live one is an error; the processes of a killed one are stopped first. */
async function takeOver(paths: ReturnType<typeof clusterPaths>): Promise<void> {
  const status = await clusterStatus(paths);
  if (status?.supervisor.alive)
    throw new ConfigError(`a cluster is already running on this DATA_DIR (supervisor pid ${status.supervisor.pid}): \`npm run cluster -- down\` stops it`);
  if (readState(paths)) await stopCluster(paths);
}

/** The outside binaries, checked before anything starts: one clear line on what to install. */
function checkTools(config: ClusterConfig): void {
  for (const tool of ['bin/temporal-server', 'bin/temporal-sql-tool', 'bin/temporal-ui-server']) {
    if (!fs.existsSync(path.join(config.TEMPORAL_SERVER_DIR, tool))) {
      throw new ConfigError(`${path.join(config.TEMPORAL_SERVER_DIR, tool)} not found: run scripts/ensure-temporal-server.sh (or set TEMPORAL_SERVER_DIR)`);
    }
  }
  try {
    execFileSync(config.HAPROXY_PATH, ['-v'], { stdio: 'ignore' });
  } catch {
    throw new ConfigError(`${config.HAPROXY_PATH} not found: run scripts/ensure-test-tools.sh haproxy (Debian: apt-get install haproxy), or set HAPROXY_PATH`);
  }
}
