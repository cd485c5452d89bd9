import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive, readPidFile, waitUntil } from '../infra/processes';
import { logger } from '../logger';
import { pidFile, type ClusterPaths } from '../cluster/state';
import type { ProcessSpec } from '../cluster/topology';
import type { PlannedFault } from './faultPlan';
import type { FaultProxy, ProxyMode } from './faultProxy';
import type { InjectedFault } from './report';

/** How long a restarted process may take to serve again before the soak calls it a failure (Temporal's start is the slowest). */
const RECOVERY_TIMEOUT_MS = 180_000;

const log = logger.child({ component: 'nemesis' });

/**
 * Injects a schedule of faults into a running cluster, each at its time: signals to the processes
 * (kill -9, SIGSTOP/SIGCONT, a clean restart of PostgreSQL or Temporal, which the cluster's
 * supervisor follows with a restart) and modes of the fault proxies in front of the backends.
 * Signals go to the process group, as a container runtime's would: PostgreSQL's backends are
 * stopped with their postmaster.
 */
export class Nemesis {
  private readonly injected: InjectedFault[] = [];
  private readonly running = new Set<Promise<void>>();
  /** Ends a fault early: every fault under way when the campaign stops is ended at once. */
  private readonly stopped = new AbortController();
  private failure: Error | undefined;

  constructor(
    private readonly paths: ClusterPaths,
    private readonly processes: readonly ProcessSpec[],
    private readonly proxies: ReadonlyMap<string, FaultProxy>,
    private readonly startedAt: number,
  ) {}

  /** Runs `plan` until its last fault has started or `signal` aborts; the faults under way keep running until `stop`. */
  async run(plan: readonly PlannedFault[], signal: AbortSignal): Promise<void> {
    for (const fault of plan) {
      const wait = this.startedAt + fault.atMs - Date.now();
      if (wait > 0) await sleep(wait, undefined, { signal }).catch(() => undefined);
      if (signal.aborted) return;
      const done = this.inject(fault).catch((err: unknown) => {
        this.failure ??= err instanceof Error ? err : new Error(String(err));
        log.error({ err, fault }, 'fault could not be injected or its target did not come back');
      });
      this.running.add(done);
      void done.finally(() => this.running.delete(done));
    }
  }

  /** Ends every fault under way (SIGCONT, proxies back to pass) and waits until every process serves again. */
  async stop(): Promise<InjectedFault[]> {
    this.stopped.abort();
    await Promise.all(this.running);
    if (this.failure) throw this.failure;
    return [...this.injected].sort((a, b) => a.startMs - b.startMs);
  }

  private async inject(fault: PlannedFault): Promise<void> {
    const startMs = Date.now() - this.startedAt;
    log.info({ kind: fault.kind, target: fault.target, duration_ms: fault.durationMs, level: fault.level }, 'fault');
    if (fault.kind.startsWith('backend-')) {
      await this.backendFault(fault);
    } else {
      const spec = this.processes.find((p) => p.name === fault.target);
      if (!spec) throw new Error(`no process named ${fault.target}`);
      const pid = await readPidFile(pidFile(this.paths, spec.name));
      // A process the supervisor is restarting right now has no pid: the fault is skipped, not invented.
      if (pid === undefined || !isAlive(pid)) return;
      if (fault.kind === 'pause') {
        process.kill(-pid, 'SIGSTOP');
        await this.hold(fault.durationMs);
        process.kill(-pid, 'SIGCONT');
      } else {
        const signal = fault.kind === 'kill' ? 'SIGKILL' : spec.stopSignal;
        process.kill(fault.kind === 'kill' ? -pid : pid, signal);
        await this.untilRestarted(spec, pid);
      }
    }
    this.injected.push({ kind: fault.kind, target: fault.target, startMs, endMs: Date.now() - this.startedAt });
  }

  private async backendFault(fault: PlannedFault): Promise<void> {
    const proxy = this.proxies.get(fault.target);
    if (!proxy) throw new Error(`no fault proxy in front of ${fault.target}`);
    const modes: Record<string, ProxyMode> = {
      'backend-down': { kind: 'down' },
      'backend-flap': { kind: 'flap503', share: fault.level },
      'backend-latency': { kind: 'latency', ms: fault.level },
      'backend-reset': { kind: 'reset', probability: fault.level },
      'backend-blackhole': { kind: 'blackhole' },
    };
    await proxy.setMode(modes[fault.kind]!);
    await this.hold(fault.durationMs);
    await proxy.setMode({ kind: 'pass' });
  }

  /** Waits `ms`, or less when the campaign stops. */
  private async hold(ms: number): Promise<void> {
    await sleep(ms, undefined, { signal: this.stopped.signal }).catch(() => undefined);
  }

  /** Until the supervisor has started `spec` again (a new pid) and it serves. */
  private async untilRestarted(spec: ProcessSpec, oldPid: number): Promise<void> {
    const back = await waitUntil(
      async () => {
        const pid = await readPidFile(pidFile(this.paths, spec.name));
        return pid !== undefined && pid !== oldPid && isAlive(pid) && (await spec.ready());
      },
      RECOVERY_TIMEOUT_MS,
      250,
    );
    if (!back) throw new Error(`${spec.name} did not serve again within ${RECOVERY_TIMEOUT_MS / 1000} s of its ${oldPid} being stopped`);
  }
}
