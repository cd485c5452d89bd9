import { Gauge } from 'prom-client';
import type { Db } from '../db/pool';
import { logger } from '../logger';
import { BATCH_STATUSES } from '../states/batch';
import { countBatchesByStatus, pendingRequestsByModel, queuedRequestsSummary } from '../store/backlog';
import { withTimeout } from '../withTimeout';
import { registry } from './registry';

/** A scrape waits this long for PostgreSQL, then reports without the database's gauges. */
const DATABASE_SCRAPE_TIMEOUT_MS = 3_000;

/**
 * Gauges read from PostgreSQL at scrape time: the state of every batch and the backlog, the same
 * whichever process reports them. Registered by processes serving the API only (one place to
 * scrape them; with several API replicas, aggregate with max, not sum). A scrape during a database
 * outage reports them empty rather than stale.
 */
export function observeDatabase(db: Db): void {
  const registers = [registry];
  const batches = perScrape('vbs_batches', () => countBatchesByStatus(db));
  const pending = perScrape('vbs_pending_requests', () => pendingRequestsByModel(db));
  const queued = perScrape('vbs_queued_requests', () => queuedRequestsSummary(db));

  new Gauge({
    name: 'vbs_batches',
    help: 'Batches by status.',
    labelNames: ['status'] as const,
    registers,
    async collect() {
      this.reset();
      const rows = await batches();
      if (!rows) return;
      for (const status of BATCH_STATUSES) this.set({ status }, 0);
      for (const { status, count } of rows) this.set({ status }, count);
    },
  });

  // The autoscaling signal: how much work waits per model, and how soon some of it is due.
  new Gauge({
    name: 'vbs_pending_requests',
    help: 'Requests of running batches without a result yet, per model: what a GPU autoscaler (KEDA, an HPA on external metrics) scales on.',
    labelNames: ['model'] as const,
    registers,
    async collect() {
      this.reset();
      for (const row of (await pending()) ?? []) this.set({ model: row.model }, row.pending);
    },
  });
  new Gauge({
    name: 'vbs_pending_deadline_seconds',
    help: 'Seconds until the soonest expiry among running batches with pending requests, per model (negative: overdue).',
    labelNames: ['model'] as const,
    registers,
    async collect() {
      this.reset();
      for (const row of (await pending()) ?? []) this.set({ model: row.model }, (row.nearest_deadline.getTime() - Date.now()) / 1000);
    },
  });

  new Gauge({
    name: 'vbs_queued_requests',
    help: 'Requests waiting in stream-to-batch queues, not yet dispatched as a batch.',
    registers,
    async collect() {
      this.reset();
      const summary = await queued();
      if (summary) this.set(summary.queued);
    },
  });
  new Gauge({
    name: 'vbs_queued_oldest_age_seconds',
    help: 'Age of the oldest request waiting in a stream-to-batch queue (0 when none waits).',
    registers,
    async collect() {
      this.reset();
      const summary = await queued();
      if (summary) this.set(summary.oldest_age_seconds);
    },
  });
}

/**
 * One database read per scrape, however many gauges show it: the registry collects every gauge at
 * once, so gauges asking while a read is under way share it. Undefined when the read failed or took
 * longer than DATABASE_SCRAPE_TIMEOUT_MS.
 */
function perScrape<T>(what: string, query: () => Promise<T>): () => Promise<T | undefined> {
  let current: Promise<T | undefined> | undefined;
  return () => {
    current ??= withTimeout(query(), DATABASE_SCRAPE_TIMEOUT_MS)
      .catch((err: unknown) => {
        logger.warn({ err: (err as Error).message, metric: what }, 'metrics: reading the database failed');
        return undefined;
      })
      .finally(() => {
        current = undefined;
      });
    return current;
  };
}

export type TaskQueueBacklogView = { taskQueue: string; kind: string; count: number; ageSeconds: number };

/**
 * Gauges of the Temporal task queues' backlogs, asked of the server at scrape time (API processes):
 * chunks waiting for a GPU worker per model, and the orchestrator's own queue.
 */
export function observeTaskQueues(backlogs: () => Promise<TaskQueueBacklogView[]>): void {
  const read = perScrape('vbs_task_queue_backlog', backlogs);
  const gauge = (name: string, help: string, value: (b: TaskQueueBacklogView) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['task_queue', 'kind'] as const,
      registers: [registry],
      async collect() {
        this.reset();
        for (const backlog of (await read()) ?? []) this.set({ task_queue: backlog.taskQueue, kind: backlog.kind }, value(backlog));
      },
    });
  gauge(
    'vbs_task_queue_backlog',
    "Tasks waiting in a Temporal task queue for a worker (the server's estimate): on inference.<model>, chunks no GPU worker has taken yet.",
    (b) => b.count,
  );
  gauge('vbs_task_queue_backlog_age_seconds', 'How long the oldest task of the backlog has waited.', (b) => b.ageSeconds);
}

/** A backend as a GPU worker sees it, by its redacted label (src/secrets.ts). */
export type BackendView = { label: string; state: 'starting' | 'up' | 'down'; depth: number; in_flight: number };

/** Gauges of this GPU worker's backends, read from its pool at scrape time. */
export function observeBackends(backends: () => BackendView[]): void {
  const gauge = (name: string, help: string, value: (backend: BackendView) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['backend'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const backend of backends()) this.set({ backend: backend.label }, value(backend));
      },
    });
  gauge('vbs_backend_requests_in_flight', "This worker's requests in flight at the backend.", (b) => b.in_flight);
  gauge('vbs_backend_depth', 'Requests the adaptive depth controller lets this worker keep in flight at the backend now.', (b) => b.depth);
  gauge('vbs_backend_up', 'Whether the backend is in rotation (1) or not (0: starting, or out after failures).', (b) => (b.state === 'up' ? 1 : 0));
}
