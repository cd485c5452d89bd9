import fs from 'node:fs';
import path from 'node:path';
import { isProcessOf, readPidFile, stopLeftoverProcess, waitUntil } from '../infra/processes';
import { logger } from '../logger';
import { START_ORDER, type ProcessSpec } from './topology';

/**
 * What a running cluster leaves under DATA_DIR for `status` and `down` in another shell: the
 * description of its processes (run/cluster.json), a pid file per process (run/<name>.pid) and a log
 * file per process and one-shot job (logs/<name>.log).
 */
export type ClusterPaths = Readonly<{ runDir: string; logDir: string; stateFile: string }>;

export function clusterPaths(dataDir: string): ClusterPaths {
  return { runDir: path.join(dataDir, 'run'), logDir: path.join(dataDir, 'logs'), stateFile: path.join(dataDir, 'run', 'cluster.json') };
}

export const pidFile = (paths: ClusterPaths, name: string) => path.join(paths.runDir, `${name}.pid`);
export const logFile = (paths: ClusterPaths, name: string) => path.join(paths.logDir, `${name}.log`);

export type ProcessRecord = Pick<ProcessSpec, 'name' | 'role' | 'service' | 'port' | 'marker' | 'stopSignal' | 'stopGraceMs'>;

export type ClusterState = {
  supervisor: { pid: number; marker: string };
  /** The load balancer's URL: the API's address for clients. */
  url: string;
  temporalUiUrl: string;
  /** Every process started and ready (the supervisor restarts them after that, without waiting). */
  ready: boolean;
  processes: ProcessRecord[];
};

export function writeState(paths: ClusterPaths, state: ClusterState): void {
  fs.mkdirSync(paths.runDir, { recursive: true });
  // Written whole and renamed: a reader never sees half a file.
  const temporary = `${paths.stateFile}.tmp`;
  fs.writeFileSync(temporary, JSON.stringify(state, null, 2) + '\n');
  fs.renameSync(temporary, paths.stateFile);
}

export function readState(paths: ClusterPaths): ClusterState | undefined {
  try {
    return JSON.parse(fs.readFileSync(paths.stateFile, 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

export type ProcessStatus = Omit<ProcessRecord, 'marker' | 'stopSignal' | 'stopGraceMs'> & { pid: number | undefined; alive: boolean; log: string };
export type ClusterStatus = { url: string; temporalUiUrl: string; ready: boolean; supervisor: { pid: number; alive: boolean }; processes: ProcessStatus[] };

/** The processes of the cluster under these paths, as their pid files and /proc see them now. */
export async function clusterStatus(paths: ClusterPaths): Promise<ClusterStatus | undefined> {
  const state = readState(paths);
  if (!state) return undefined;
  const processes = await Promise.all(
    state.processes.map(async ({ name, role, service, port, marker }) => {
      const pid = await readPidFile(pidFile(paths, name));
      return { name, role, service, port, pid, alive: pid !== undefined && (await isProcessOf(pid, marker)), log: logFile(paths, name) };
    }),
  );
  const supervisorAlive = await isProcessOf(state.supervisor.pid, state.supervisor.marker);
  return {
    url: state.url,
    temporalUiUrl: state.temporalUiUrl,
    ready: state.ready && supervisorAlive,
    supervisor: { pid: state.supervisor.pid, alive: supervisorAlive },
    processes,
  };
}

/**
 * `down`: asks the supervisor to stop its processes (in reverse start order, as on Ctrl-C) and waits
 * for it; then stops, by their pid files, any process a supervisor killed with SIGKILL left behind.
 * Returns the names of the processes it had to stop that way.
 */
export async function stopCluster(paths: ClusterPaths): Promise<string[]> {
  const state = readState(paths);
  if (!state) return [];
  const { pid, marker } = state.supervisor;
  if (await isProcessOf(pid, marker)) {
    process.kill(pid, 'SIGTERM');
    // Its own stop waits up to each process's grace, tier by tier; this only bounds a stuck supervisor.
    if (!(await waitUntil(async () => !(await isProcessOf(pid, marker)), 180_000, 200))) process.kill(pid, 'SIGKILL');
  }
  const leftovers: string[] = [];
  for (const roles of [...START_ORDER].reverse()) {
    await Promise.all(
      state.processes
        .filter((p) => roles.includes(p.role))
        .map(async (p) => {
          const leftover = await readPidFile(pidFile(paths, p.name));
          if (leftover !== undefined && (await stopLeftoverProcess(leftover, p.marker, p.stopSignal))) leftovers.push(p.name);
          fs.rmSync(pidFile(paths, p.name), { force: true });
        }),
    );
  }
  if (leftovers.length > 0) logger.warn({ processes: leftovers }, 'stopped processes left behind by a supervisor that was killed');
  writeState(paths, { ...state, ready: false });
  return leftovers;
}
