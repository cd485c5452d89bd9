import fs from 'node:fs/promises';
import { readPidFile } from '../infra/processes';
import { pidFile, type ClusterPaths } from '../cluster/state';
import type { Backend } from '../cluster/simulator';

const SAMPLE_EVERY_MS = 2_000;

/**
 * Samples the cluster while a soak runs: the answers the backends gave (the simulators' own
 * counters, read directly, not through the fault proxies) for the throughput plot and the redo
 * count, and every process's resident memory for its peak.
 */
export class Sampler {
  readonly throughput: Array<{ tMs: number; linesPerSecond: number }> = [];
  readonly peakRssMiB: Record<string, number> = {};
  /**
   * Successful answers of every backend, summed over its restarts (a restarted simulator counts from
   * 0; what a killed one answered since the last sample, at most 2 s of answers, is not counted).
   */
  backendSuccesses = 0;
  private readonly lastCompleted = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private lastAt = 0;

  constructor(
    private readonly paths: ClusterPaths,
    private readonly processNames: readonly string[],
    private readonly backends: readonly Backend[],
    private readonly startedAt: number,
  ) {}

  start(): void {
    this.lastAt = Date.now();
    this.timer = setInterval(() => void this.sample(), SAMPLE_EVERY_MS);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sample();
  }

  private async sample(): Promise<void> {
    const now = Date.now();
    let answered = 0;
    await Promise.all(
      this.backends.map(async (backend) => {
        const completed = await simulatorCompleted(backend);
        if (completed === undefined) return;
        const last = this.lastCompleted.get(backend.name) ?? 0;
        answered += completed >= last ? completed - last : completed;
        this.lastCompleted.set(backend.name, completed);
      }),
    );
    this.backendSuccesses += answered;
    const seconds = Math.max(0.001, (now - this.lastAt) / 1000);
    this.lastAt = now;
    this.throughput.push({ tMs: now - this.startedAt, linesPerSecond: Math.round((answered / seconds) * 10) / 10 });
    await Promise.all(
      this.processNames.map(async (name) => {
        const rss = await rssMiB(await readPidFile(pidFile(this.paths, name)));
        if (rss !== undefined) this.peakRssMiB[name] = Math.max(this.peakRssMiB[name] ?? 0, rss);
      }),
    );
  }
}

async function simulatorCompleted(backend: Backend): Promise<number | undefined> {
  try {
    const response = await fetch(backend.baseUrl.replace(/\/v1$/, '/sim/stats'), { signal: AbortSignal.timeout(1_000) });
    return ((await response.json()) as { completed: number }).completed;
  } catch {
    return undefined;
  }
}

async function rssMiB(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(await fs.readFile(`/proc/${pid}/status`, 'utf8'));
    return match ? Math.round(Number(match[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}
