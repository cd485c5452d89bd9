import os from 'node:os';
import crypto from 'node:crypto';
import { Worker, type NativeConnection } from '@temporalio/worker';
import type { Settings } from '../config';
import type { Db } from '../db/pool';
import { createInferenceActivities } from '../activities/inference';
import { BackendPool } from '../inference/backends';
import { DEFAULT_HEALTH_POLICY } from '../inference/health';
import { backendTarget } from '../inference/target';
import { InferenceClient } from '../inference/client';
import { DEFAULT_ATTEMPT_POLICY } from '../inference/requestAttempts';
import { logger } from '../logger';
import { heartbeatInferenceWorker, removeInferenceWorker, type ServedModel } from '../store/inferenceWorkers';
import { BATCH_ENDPOINTS, ENDPOINT_KINDS, ENDPOINTS_OF_KIND } from '../domain/endpoints';
import { inferenceTaskQueue } from '../domain/taskQueues';
import { ChunkAdmission } from './admission';
import { CancelWatch } from './cancelWatch';
import { untilTemporalAvailable } from '../temporal/availability';

const REGISTRATION_HEARTBEAT_MS = 15_000;
const REGISTRATION_RETRY_MS = 1_000;
/**
 * How often the worker compares its capacity for each model with the one last written, and how much
 * it must have grown to be written before the next heartbeat: depths are found within seconds of a
 * start, and a batch created then must not keep the window of the first depths for 15 s. Shrinking
 * waits for the heartbeat (a window too large only leaves chunks in the task queue for a while).
 */
const CAPACITY_CHECK_MS = 1_000;
const CAPACITY_GROWTH_TO_WRITE = 1.25;
/**
 * Chunks a GPU worker holds: at least one (the next is leased while it drains), at most what any
 * depth of its backends could want — per backend, so a worker in front of many GPUs is not capped
 * below them (64 chunks cover twice a 1,024-deep backend at chunks of 33 requests or more); in
 * between, admission follows the backends' queue.
 */
const CHUNKS_PER_BACKEND = { min: 1, max: 64 };

/** A backend as /readyz shows operators: by its redacted label, never its configured URL. */
export type BackendStatus = { label: string; state: 'starting' | 'up' | 'down'; depth: number; in_flight: number; models: string[]; endpoints: string[] };

export type InferenceRole = {
  /** Each backend as this worker sees it: for /readyz and operators. */
  backends: () => BackendStatus[];
  shutdown(): Promise<void>;
};

type WorkerOptions = { connection: NativeConnection; namespace: string; shutdownGraceTime: number };

/**
 * The GPU worker role. It starts whether or not its vLLM servers answer yet (loading weights takes
 * minutes): with VLLM_MODELS it serves those models at once, and their chunks wait for a backend;
 * otherwise it serves each model as soon as a backend lists it, and announces it then, so
 * validation accepts batches only for models some worker can run. Each model is announced with the
 * batch endpoints its backends serve it at (VLLM_ENDPOINTS, else each backend's own, discovered),
 * and its chunks are leased from one task queue per endpoint kind it serves: a generation server's
 * worker never takes an embeddings chunk of a model of the same name served for pooling elsewhere.
 */
export async function startInferenceRole(config: Settings<'inference'>, db: Db, options: WorkerOptions): Promise<InferenceRole> {
  if (config.VLLM_BASE_URL.length === 0) throw new Error('the inference role needs VLLM_BASE_URL');
  // Each server's credentials (or VLLM_API_KEY) move into a header; logs and /readyz show its label only.
  const targets = config.VLLM_BASE_URL.map(({ url, name }) => backendTarget(url, config.VLLM_API_KEY, name));
  const labels = targets.map((b) => b.label);
  const health = {
    failureThreshold: config.BACKEND_FAILURE_THRESHOLD,
    probeIntervalMs: config.BACKEND_PROBE_INTERVAL_MS,
    maxProbeIntervalMs: Math.max(config.BACKEND_PROBE_INTERVAL_MS, DEFAULT_HEALTH_POLICY.maxProbeIntervalMs),
  };
  const pool = new BackendPool(targets, { maxDepth: config.MAX_INFLIGHT_PER_BACKEND, health, endpoints: config.VLLM_ENDPOINTS });
  const inference = new InferenceClient({
    pool,
    timeoutMs: config.REQUEST_TIMEOUT_MS,
    attempts: { ...DEFAULT_ATTEMPT_POLICY, maxAttempts: config.REQUEST_MAX_ATTEMPTS },
  });
  // GPU workers run no workflows; their only real slots are chunks, leased by admission. Each
  // task queue's worker has its own: one lease in the air per task queue, or a model with no work would
  // hold the only lease in a long poll while another model's chunks wait.
  const fixed = (numSlots: number) => ({ type: 'fixed-size' as const, numSlots });
  const tunerFor = (admission: ChunkAdmission) => ({
    activityTaskSlotSupplier: admission,
    workflowTaskSlotSupplier: fixed(2),
    localActivityTaskSlotSupplier: fixed(2),
    nexusTaskSlotSupplier: fixed(2),
  });
  // What it reports of each model: the depths its backends in rotation serving it have found.
  const registration = new Registration(db, (model) => pool.queueState(model).depth);
  const stops = new CancelWatch(db);
  /** A Temporal worker per task queue, i.e. per model and endpoint kind. */
  const workers = new Map<string, { worker: Worker; running: Promise<void> }>();
  let announced = '';
  let stopping = false;

  /** Each model this worker serves now, with the batch endpoints its backends serve it at. */
  const servedNow = (): ServedModel[] => {
    const models = config.VLLM_MODELS.length > 0 ? config.VLLM_MODELS : pool.models;
    return models.map((model) => {
      const discovered = pool.endpointsOf(model);
      // A configured model no backend has listed yet: what VLLM_ENDPOINTS says, else every endpoint
      // (as before endpoints were told apart) until a backend lists it and says which.
      const endpoints = BATCH_ENDPOINTS.filter((e) => (discovered ? discovered.has(e) : (config.VLLM_ENDPOINTS ?? BATCH_ENDPOINTS).includes(e)));
      return { model, endpoints };
    });
  };

  // One change at a time: Worker.create is async and a flapping backend reports often.
  let serving = Promise.resolve();
  const serve = () => {
    serving = serving
      .then(async () => {
        if (stopping) return;
        const served = servedNow();
        for (const { model, endpoints } of served) {
          for (const kind of ENDPOINT_KINDS) {
            const taskQueue = inferenceTaskQueue(model, kind);
            if (workers.has(taskQueue) || !ENDPOINTS_OF_KIND[kind].some((e) => endpoints.includes(e))) continue;
            const admission = new ChunkAdmission(pool, model, { min: CHUNKS_PER_BACKEND.min, max: CHUNKS_PER_BACKEND.max * targets.length }, ENDPOINTS_OF_KIND[kind]);
            const worker = await untilTemporalAvailable(() =>
              Worker.create({
                ...options,
                taskQueue,
                activities: createInferenceActivities({
                  db,
                  inference,
                  stallTimeoutMs: config.CHUNK_STALL_TIMEOUT_MS,
                  resultWriteRetryMs: config.RESULT_WRITE_RETRY_MS,
                  admission,
                  stops,
                }),
                tuner: tunerFor(admission),
                // Cancellation reaches a chunk in a heartbeat's answer: beat often enough to stop within a second.
                maxHeartbeatThrottleInterval: '1 second',
              }),
            );
            workers.set(taskQueue, { worker, running: worker.run() });
          }
        }
        // Announced when it changes (a backend listed a model, or told its endpoints), refreshed by the heartbeat.
        const announcement = JSON.stringify(served);
        if (served.length === 0 || announcement === announced) return;
        await registration.announce(served);
        announced = announcement;
        logger.info({ served, taskQueues: [...workers.keys()], backends: labels }, 'GPU worker serving models');
      })
      .catch((err: unknown) => logger.error({ err }, 'could not start serving models'));
  };

  // Configured models are served at once; discovered ones (and discovered endpoints) as backends answer.
  serve();
  pool.onChange(serve);
  pool.start();
  // Backends that answer at once are served before start-up completes, as before; the others later.
  await Promise.all(pool.backends.map((b) => b.health.firstProbe));
  await serving;
  if (workers.size === 0) logger.warn({ backends: labels }, 'no backend answers yet: serving each model once a backend lists it');

  return {
    backends: () =>
      pool.backends.map((b) => ({
        label: b.label,
        state: b.health.state,
        depth: b.depth.depth,
        in_flight: b.slots.active,
        models: [...b.health.models],
        endpoints: [...b.health.endpoints],
      })),
    async shutdown() {
      stopping = true;
      await serving;
      await registration.withdraw();
      for (const { worker } of workers.values()) {
        if (worker.getState() === 'RUNNING') worker.shutdown();
      }
      // Draining chunks still send their in-flight requests: the pool stops last.
      await Promise.allSettled([...workers.values()].map((w) => w.running));
      stops.stop();
      await pool.stop();
      await inference.close();
    },
  };
}

/**
 * Announces the served models, their endpoints (validation and GET /v1/models read them) and the
 * worker's capacity for each (batch windows follow it), and keeps the announcement fresh: every
 * REGISTRATION_HEARTBEAT_MS, sooner when a capacity has grown by CAPACITY_GROWTH_TO_WRITE, and after a
 * failed write (PostgreSQL away) every second until one lands, so a worker counts as live again as soon
 * as the database is back rather than up to a heartbeat later. Writes never block the caller: chunks
 * run meanwhile.
 */
class Registration {
  private readonly workerId = `${os.hostname()}-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
  private served: ServedModel[] = [];
  /** The capacity last written for each model. */
  private written = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private readonly growthCheck: NodeJS.Timeout;
  private writing: Promise<void> = Promise.resolve();
  private writesQueued = 0;
  private failingSince: number | undefined;
  private withdrawn = false;

  constructor(
    private readonly db: Db,
    private readonly capacityOf: (model: string) => number,
  ) {
    this.growthCheck = setInterval(() => {
      if (
        this.writesQueued === 0 &&
        this.failingSince === undefined &&
        this.served.some(({ model }) => this.capacityOf(model) >= CAPACITY_GROWTH_TO_WRITE * (this.written.get(model) ?? 0) + 1)
      )
        void this.write();
    }, CAPACITY_CHECK_MS).unref();
  }

  /** Resolves once this announcement was written, or could not be (it is then retried in the background). */
  announce(served: ServedModel[]): Promise<void> {
    this.served = served;
    return this.write();
  }

  async withdraw(): Promise<void> {
    this.withdrawn = true;
    clearTimeout(this.timer);
    clearInterval(this.growthCheck);
    await this.writing;
    await removeInferenceWorker(this.db, this.workerId).catch(() => undefined);
  }

  private write(): Promise<void> {
    clearTimeout(this.timer);
    this.writesQueued++;
    this.writing = this.writing.then(() => this.writeNow()).finally(() => this.writesQueued--);
    return this.writing;
  }

  private async writeNow(): Promise<void> {
    if (this.withdrawn) return;
    try {
      const served = this.served.map((s) => ({ ...s, capacity: this.capacityOf(s.model) }));
      await heartbeatInferenceWorker(this.db, this.workerId, served);
      this.written = new Map(served.map((s) => [s.model, s.capacity]));
      if (this.failingSince !== undefined) logger.info({ after_s: Math.round((Date.now() - this.failingSince) / 1000) }, 'model registration written again');
      this.failingSince = undefined;
    } catch (err) {
      if (this.failingSince === undefined) logger.warn({ err: (err as Error).message }, 'model registration failed: retrying every second');
      this.failingSince ??= Date.now();
    }
    if (this.withdrawn) return;
    this.timer = setTimeout(() => void this.write(), this.failingSince === undefined ? REGISTRATION_HEARTBEAT_MS : REGISTRATION_RETRY_MS).unref();
  }
}
