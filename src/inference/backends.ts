import { setTimeout as sleep } from 'node:timers/promises';
import { logger } from '../logger';
import { DepthController, INITIAL_DEPTH } from './depth';
import { BATCH_ENDPOINTS } from '../domain/endpoints';
import { discoverEndpoints, discoverModels, readSchedulerGauges } from './discovery';
import { BackendHealth, type HealthPolicy, type Served } from './health';
import { Semaphore, type Claim } from './semaphore';
import type { BackendTarget } from './target';

export type Backend = BackendTarget & { health: BackendHealth; slots: Semaphore; depth: DepthController };

export type BackendPoolOptions = {
  /** MAX_INFLIGHT_PER_BACKEND: the ceiling the depth controller may reach. */
  maxDepth: number;
  health: HealthPolicy;
  /**
   * VLLM_ENDPOINTS: the batch endpoints every backend serves. Undefined: each backend's own, read
   * from its OpenAPI document at each probe (every endpoint, as before endpoints were told apart,
   * for a server that publishes none).
   */
  endpoints?: readonly string[];
};

/** How often a backend's scheduler gauges are read while it is in rotation. */
const GAUGE_INTERVAL_MS = 250;

/**
 * The vLLM servers this process sends to. Each has a health (in rotation or not), an in-flight
 * bound shared by every chunk of every batch in the process, and a controller that moves that bound
 * to the depth the server can actually run. While no backend is in rotation, requests wait here.
 */
export class BackendPool {
  readonly backends: Backend[];
  private readonly waiters = new Set<() => void>();
  private readonly listeners = new Set<() => void>();
  private readonly stopping = new AbortController();
  private gaugeLoops: Promise<void>[] = [];

  constructor(targets: BackendTarget[], options: BackendPoolOptions) {
    if (targets.length === 0) throw new Error('BackendPool needs at least one base URL');
    this.backends = targets.map((target) => {
      const slots = new Semaphore(Math.min(INITIAL_DEPTH, options.maxDepth));
      let warned = false;
      const probe = async (signal: AbortSignal): Promise<Served> => {
        const [models, endpoints] = await Promise.all([discoverModels(target, signal), options.endpoints ?? discoverEndpoints(target, signal)]);
        if (endpoints !== null) return { models, endpoints };
        if (!warned)
          logger.warn({ backend: target.label }, 'backend publishes no /openapi.json: assuming it serves every batch endpoint (set VLLM_ENDPOINTS to say which)');
        warned = true;
        return { models, endpoints: BATCH_ENDPOINTS };
      };
      const health = new BackendHealth(target.label, probe, options.health, () => this.changed());
      return { ...target, slots, health, depth: new DepthController(slots, options.maxDepth) };
    });
  }

  /** Starts probing every backend (they enter rotation as they answer) and reading their gauges. */
  start(): void {
    for (const backend of this.backends) backend.health.start();
    this.gaugeLoops = this.backends.map((backend) => this.followGauges(backend));
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await Promise.all([...this.backends.map((b) => b.health.stop()), ...this.gaugeLoops]);
  }

  /** Whether some backend in rotation serves `model` (any model, when undefined) at one of `endpoints` (any, when undefined). */
  serving(model?: string, endpoints?: readonly string[]): boolean {
    return this.servingCount(model, endpoints) > 0;
  }

  /** How many backends in rotation serve `model` at one of `endpoints`. */
  servingCount(model?: string, endpoints?: readonly string[]): number {
    return this.backends.filter((b) => servesIn(b, model, endpoints)).length;
  }

  /**
   * Requests waiting for a slot at the backends in rotation that list `model` (at one of
   * `endpoints`, when given), and their depth: admission compares the two.
   */
  queueState(model: string, endpoints?: readonly string[]): { waiting: number; depth: number } {
    let waiting = 0;
    let depth = 0;
    for (const backend of this.backends) {
      if (!servesIn(backend, model, endpoints)) continue;
      waiting += backend.slots.waiting;
      depth += backend.slots.capacity;
    }
    return { waiting, depth };
  }

  /** Every model some backend has listed, sorted. */
  get models(): string[] {
    return [...new Set(this.backends.flatMap((b) => b.health.models))].sort();
  }

  /**
   * The batch endpoints the backends that list `model` serve (any that has answered a probe, in
   * rotation or not); undefined while none lists it (not: none serves it at a batch endpoint).
   */
  endpointsOf(model: string): Set<string> | undefined {
    const listing = this.backends.filter((b) => b.health.models.includes(model));
    return listing.length > 0 ? new Set(listing.flatMap((b) => b.health.endpoints)) : undefined;
  }

  /** Called whenever a backend enters or leaves rotation. */
  onChange(listener: () => void): void {
    this.listeners.add(listener);
  }

  /**
   * Waits for a slot on the least busy backend in rotation (for as long as none is: an outage is
   * waited out, not failed), in `claim`'s turn, among the backends that list `model` and serve
   * `endpoint`: servers of several models, generation and pooling ones, may share a pool. The
   * caller must call the returned release exactly once.
   */
  async acquire(signal?: AbortSignal, claim?: Claim, model?: string, endpoint?: string): Promise<{ backend: Backend; release: () => void }> {
    const endpoints = endpoint === undefined ? undefined : [endpoint];
    for (;;) {
      signal?.throwIfAborted();
      const healthy = this.backends.filter((b) => servesIn(b, model, endpoints));
      if (healthy.length === 0) {
        await this.nextChange(signal);
        continue;
      }
      const backend = healthy.reduce((best, b) => (load(b) < load(best) ? b : best));
      await backend.slots.acquire(signal, claim);
      if (!servesIn(backend, model, endpoints)) {
        // It left rotation while we queued for it.
        backend.slots.release();
        continue;
      }
      let released = false;
      return {
        backend,
        release: () => {
          if (released) return;
          released = true;
          backend.slots.release();
        },
      };
    }
  }

  private changed(): void {
    for (const wake of this.waiters) wake();
    this.waiters.clear();
    for (const listener of this.listeners) listener();
  }

  private nextChange(signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.waiters.delete(wake);
        reject(signal!.reason);
      };
      const wake = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(wake);
    });
  }

  private async followGauges(backend: Backend): Promise<void> {
    const stopped = this.stopping.signal;
    while (!stopped.aborted) {
      await sleep(GAUGE_INTERVAL_MS, undefined, { signal: stopped }).catch(() => undefined);
      if (stopped.aborted || !backend.health.healthy) continue;
      const gauges = await readSchedulerGauges(backend, AbortSignal.timeout(GAUGE_INTERVAL_MS)).catch(() => undefined);
      if (gauges === null) {
        backend.depth.onNoGauges();
        logger.info({ backend: backend.label }, 'backend exports no scheduler gauges: its depth follows the latency of its answers and 429/503/timeouts');
        return;
      }
      if (gauges) backend.depth.onGauges(gauges);
    }
  }
}

const servesIn = (b: Backend, model: string | undefined, endpoints: readonly string[] | undefined) =>
  b.health.healthy && (model === undefined || b.health.models.includes(model)) && (endpoints === undefined || endpoints.some((e) => b.health.endpoints.includes(e)));

const load = (b: Backend) => (b.slots.active + b.slots.waiting) / b.slots.capacity;
