import { setTimeout as sleep } from 'node:timers/promises';
import { BrokenCircuitError, CircuitState, ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleType, type CircuitBreakerPolicy } from 'cockatiel';
import { logger } from '../logger';

/** Thrown by an attempt when the server, not the request, failed: it counts toward opening the breaker. */
export class BackendFailure<T> extends Error {
  override readonly name = 'BackendFailure';
  constructor(readonly detail: T) {
    super('backend failure');
  }
}

export type HealthPolicy = {
  /** Consecutive server failures (transport errors, timeouts, 5xx) that take a backend out of rotation. */
  failureThreshold: number;
  /** First wait before probing a backend that went down; doubles per failed probe up to the max. */
  probeIntervalMs: number;
  maxProbeIntervalMs: number;
};

/** What a probe learns: the models a backend lists, and the batch endpoints it serves them at. */
export type Served = { models: string[]; endpoints: readonly string[] };

export const DEFAULT_HEALTH_POLICY: HealthPolicy = { failureThreshold: 5, probeIntervalMs: 500, maxProbeIntervalMs: 5_000 };

/** How often the prober looks at the breaker; probes themselves follow the breaker's backoff. */
const PROBE_TICK_MS = 100;
/** A backend that cannot list its models this fast is in no state to serve batches. */
const PROBE_TIMEOUT_MS = 5_000;

/**
 * One backend's health. It enters rotation only after a probe (`GET /v1/models`) answers, leaves
 * it when the circuit breaker opens on consecutive server failures, and comes back when a probe,
 * never a batch request, succeeds: requests are not spent on finding out whether a server is back.
 * The last successful probe also says which models the backend serves, and at which endpoints.
 */
export class BackendHealth {
  private readonly breaker: CircuitBreakerPolicy;
  private answered = false;
  private served: Served = { models: [], endpoints: [] };
  private probing: Promise<void> | undefined;
  private readonly stopping = new AbortController();
  private wasHealthy = false;
  private firstProbeDone!: () => void;
  /** performance.now() when the breaker last opened. */
  private lastBreakAt = -Infinity;
  /** The probe that failures in flight share to learn whether the server still answers. */
  private checking: Promise<boolean> | undefined;
  /** Settles once the first probe has answered or failed: start-up waits for it, not for the backend. */
  readonly firstProbe = new Promise<void>((resolve) => (this.firstProbeDone = resolve));
  private readonly log;

  constructor(
    /** The backend's label (src/secrets.ts): what its log lines name it by. */
    label: string,
    private readonly probe: (signal: AbortSignal) => Promise<Served>,
    private readonly policy: HealthPolicy,
    private readonly onChange: () => void,
  ) {
    this.log = logger.child({ backend: label });
    this.breaker = circuitBreaker(handleType(BackendFailure), {
      halfOpenAfter: new ExponentialBackoff({ initialDelay: policy.probeIntervalMs, maxDelay: policy.maxProbeIntervalMs }),
      breaker: new ConsecutiveBreaker(policy.failureThreshold),
    });
    this.breaker.onStateChange(() => this.reportChange());
    // Every failed half-open trial opens it again; the probe loop is already running then.
    this.breaker.onBreak(() => {
      this.lastBreakAt = performance.now();
      this.startProbing();
    });
  }

  private reportChange(): void {
    if (this.healthy === this.wasHealthy) return;
    this.wasHealthy = this.healthy;
    if (this.healthy) this.log.info({ models: this.served.models, endpoints: this.served.endpoints }, 'backend in rotation');
    else this.log.warn('backend down: out of rotation until a probe answers; its requests wait');
    this.onChange();
  }

  /** In rotation: has answered a probe, and the breaker is closed. */
  get healthy(): boolean {
    return this.answered && this.breaker.state === CircuitState.Closed;
  }

  get state(): 'starting' | 'up' | 'down' {
    if (!this.answered) return 'starting';
    return this.healthy ? 'up' : 'down';
  }

  /** The models of the last successful probe (empty until one succeeds). */
  get models(): readonly string[] {
    return this.served.models;
  }

  /** The batch endpoints of the last successful probe (empty until one succeeds). */
  get endpoints(): readonly string[] {
    return this.served.endpoints;
  }

  /** Starts probing until the backend first answers. */
  start(): void {
    this.startProbing();
  }

  stop(): Promise<void> {
    this.stopping.abort();
    this.firstProbeDone();
    return this.probing ?? Promise.resolve();
  }

  /**
   * Runs one attempt against this backend through the breaker. A `BackendFailure` the attempt
   * throws is recorded; `BrokenCircuitError` means the backend left rotation before it started.
   */
  run<T>(attempt: () => Promise<T>): Promise<T> {
    return this.breaker.execute(attempt);
  }

  /**
   * Whose was the server failure of an attempt sent at `sentAt` (performance.now())? The server's
   * when the backend has left rotation since, or does not answer a probe now: an outage, which the
   * request waits out uncharged. The request's when the server answers: it is fine, so something
   * about this request is not. Asking the server is the only evidence that holds for a lone
   * request and at the first failures of an outage, before enough of them open the breaker
   * (successes of requests sent earlier prove nothing: a server that stops taking work still
   * finishes those). Failures in flight together share one probe.
   */
  async whoseFailure(sentAt: number, signal: AbortSignal): Promise<'server' | 'request'> {
    const outage = () => this.lastBreakAt >= sentAt || !this.healthy;
    if (outage()) return 'server';
    const answers = await untilAborted((this.checking ??= this.tryProbe().finally(() => (this.checking = undefined))), signal);
    return answers && !outage() ? 'request' : 'server';
  }

  private startProbing(): void {
    this.probing ??= this.probeUntilHealthy().finally(() => (this.probing = undefined));
  }

  private async probeUntilHealthy(): Promise<void> {
    const stopped = this.stopping.signal;
    let interval = this.policy.probeIntervalMs;
    while (!stopped.aborted && !this.healthy) {
      if (!this.answered) {
        // Never seen up (a vLLM loading its weights takes minutes): probe directly, backing off.
        const answered = await this.tryProbe();
        if (answered) {
          this.answered = true;
          this.reportChange();
        }
        this.firstProbeDone();
        if (answered) return;
        if (interval === this.policy.probeIntervalMs) this.log.warn('backend not answering yet: waiting for it');
        await sleep(interval, undefined, { signal: stopped }).catch(() => undefined);
        interval = Math.min(interval * 2, this.policy.maxProbeIntervalMs);
        continue;
      }
      // Out of rotation: the breaker's backoff decides when the next probe is its half-open trial.
      await this.breaker
        .execute(async () => {
          if (!(await this.tryProbe())) throw new BackendFailure('probe failed');
        })
        .catch((err: unknown) => {
          if (!(err instanceof BrokenCircuitError) && !(err instanceof BackendFailure)) throw err;
        });
      if (!this.healthy) await sleep(PROBE_TICK_MS, undefined, { signal: stopped }).catch(() => undefined);
    }
  }

  private async tryProbe(): Promise<boolean> {
    try {
      this.served = await this.probe(AbortSignal.any([AbortSignal.timeout(PROBE_TIMEOUT_MS), this.stopping.signal]));
      return true;
    } catch {
      return false;
    }
  }
}

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
