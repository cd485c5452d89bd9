import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { waitUntil } from '../infra/processes';
import { logger } from '../logger';
import { logFile, pidFile, type ClusterPaths } from './state';
import { START_ORDER, type Job, type ProcessSpec } from './topology';

/** A process that exits is started again after this delay, doubled at each quick exit up to the cap (compose restarts with a similar backoff). */
const RESTART_DELAY_MS = { first: 1000, max: 30_000 };
/** A process that ran this long before exiting starts again after the first delay. */
const STABLE_AFTER_MS = 30_000;

type Supervised = {
  spec: ProcessSpec;
  child: ChildProcess | undefined;
  startedAt: number;
  restarts: number;
  delayMs: number;
  restartTimer: NodeJS.Timeout | undefined;
};

const log = logger.child({ component: 'cluster' });

/**
 * Runs the cluster's processes: each with its output appended to its own log file and its PID in its
 * own pid file, in a process group of its own (so that Ctrl-C reaches the supervisor only, which
 * stops them in order), and started again whenever it exits until the supervisor stops it.
 */
export class Supervisor {
  private readonly supervised = new Map<string, Supervised>();
  private stopping = false;

  constructor(private readonly paths: ClusterPaths) {
    fs.mkdirSync(paths.runDir, { recursive: true });
    fs.mkdirSync(paths.logDir, { recursive: true });
  }

  /** Starts `spec` and waits until it is ready; fails after `timeoutMs`, the process still supervised (stopAll stops it). */
  async start(spec: ProcessSpec, timeoutMs: number): Promise<void> {
    const entry: Supervised = { spec, child: undefined, startedAt: 0, restarts: 0, delayMs: RESTART_DELAY_MS.first, restartTimer: undefined };
    this.supervised.set(spec.name, entry);
    this.spawn(entry);
    if (!(await waitUntil(() => !this.stopping && spec.ready(), timeoutMs, 250))) {
      throw new Error(`${spec.name} did not become ready within ${timeoutMs / 1000} s: see ${logFile(this.paths, spec.name)}`);
    }
    log.info({ process: spec.name, process_pid: entry.child?.pid, port: spec.port }, 'ready');
  }

  /** Runs a one-shot job to completion, its output appended to logs/<job name>.log. */
  async run(job: Job): Promise<void> {
    const file = logFile(this.paths, job.name);
    const out = fs.openSync(file, 'a');
    const child = spawn(job.command, job.args, { stdio: ['ignore', out, out], env: { ...process.env, ...job.env } });
    fs.closeSync(out);
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (exitCode) => resolve(exitCode));
    });
    if (code !== 0) throw new Error(`${job.name} (${job.command} ${job.args.join(' ')}) exited with code ${code}: see ${file}`);
  }

  /** Stops every process, tier by tier in the reverse of the start order; no process is restarted from here on. */
  async stopAll(): Promise<void> {
    this.stopping = true;
    for (const roles of [...START_ORDER].reverse()) {
      await Promise.all([...this.supervised.values()].filter((entry) => roles.includes(entry.spec.role)).map((entry) => this.stop(entry)));
    }
  }

  private spawn(entry: Supervised): void {
    const { spec } = entry;
    const out = fs.openSync(logFile(this.paths, spec.name), 'a');
    const child = spawn(spec.command, spec.args, { stdio: ['ignore', out, out], env: { ...process.env, ...spec.env }, detached: true, ...spec.runAs });
    fs.closeSync(out);
    entry.child = child;
    entry.startedAt = Date.now();
    if (child.pid !== undefined) fs.writeFileSync(pidFile(this.paths, spec.name), `${child.pid}\n`);
    let ended = false;
    const onEnd = (how: { code?: number | null; signal?: NodeJS.Signals | null; err?: Error }) => {
      // A process that cannot be spawned at all reports 'error' and may report 'exit' too: once is enough.
      if (ended) return;
      ended = true;
      if (this.stopping) return;
      const ranMs = Date.now() - entry.startedAt;
      if (ranMs >= STABLE_AFTER_MS) entry.delayMs = RESTART_DELAY_MS.first;
      log.warn({ process: spec.name, process_pid: child.pid, ...how, restart_in_ms: entry.delayMs }, 'process exited: restarting it');
      entry.restartTimer = setTimeout(() => {
        entry.restartTimer = undefined;
        if (this.stopping) return;
        entry.restarts += 1;
        this.spawn(entry);
        log.info({ process: spec.name, process_pid: entry.child?.pid, restarts: entry.restarts }, 'restarted');
      }, entry.delayMs);
      entry.delayMs = Math.min(entry.delayMs * 2, RESTART_DELAY_MS.max);
    };
    child.once('exit', (code, signal) => onEnd({ code, signal }));
    child.once('error', (err) => onEnd({ err }));
  }

  private async stop(entry: Supervised): Promise<void> {
    clearTimeout(entry.restartTimer);
    const child = entry.child;
    if (child && child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill(entry.spec.stopSignal);
      const timer = setTimeout(() => {
        log.warn({ process: entry.spec.name, process_pid: child.pid }, 'did not stop in time: SIGKILL');
        child.kill('SIGKILL');
      }, entry.spec.stopGraceMs);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(pidFile(this.paths, entry.spec.name), { force: true });
  }
}
