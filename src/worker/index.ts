import fs from 'node:fs';
import os from 'node:os';
import crypto from 'node:crypto';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Config } from '../config';
import type { Db } from '../db/pool';
import { createInferenceActivities } from '../activities/inference';
import { createOrchestratorActivities } from '../activities/orchestrator';
import { createWebhookActivities } from '../activities/webhooks';
import { BackendPool } from '../inference/backends';
import { InferenceClient } from '../inference/client';
import { discoverModels } from '../inference/discovery';
import { DEFAULT_RETRY_POLICY } from '../inference/retry';
import { logger } from '../logger';
import { heartbeatInferenceWorker, removeInferenceWorker } from '../store/workers';
import { ORCHESTRATOR_TASK_QUEUE, inferenceTaskQueue } from '../temporal/names';
import { WORKFLOW_BUNDLE_PATH } from './bundleWorkflows';

const REGISTRATION_HEARTBEAT_MS = 15_000;
/** Per GPU worker: enough chunks at once to keep MAX_INFLIGHT_PER_BACKEND requests flowing between chunk tails. */
const CHUNKS_PER_INFERENCE_WORKER = 16;
/** Lines over this are refused during validation; far above any real prompt, far below memory trouble. */
export const MAX_LINE_BYTES = 8 * 1024 * 1024;

export type RunningWorkers = { models: string[]; shutdown(): Promise<void> };

/** Starts the worker roles this process plays, on one Temporal connection. */
export async function startWorkers(config: Config, db: Db, connection: NativeConnection): Promise<RunningWorkers> {
  const workers: Worker[] = [];
  const common = { connection, namespace: config.temporal.namespace, shutdownGraceTime: config.shutdownGraceMs };
  let models: string[] = [];
  let stopRegistration = async () => undefined as void;

  if (config.workerRoles.includes('orchestrator')) {
    workers.push(
      await Worker.create({
        ...common,
        taskQueue: ORCHESTRATOR_TASK_QUEUE,
        workflowBundle: { codePath: workflowBundlePath() },
        activities: {
          ...createWebhookActivities({
            db,
            config: { allowPrivate: config.webhooks.allowPrivate, defaultSecret: config.webhooks.secret, attemptTimeoutMs: config.webhooks.attemptTimeoutMs },
          }),
          ...createOrchestratorActivities({
          db,
          limits: {
            maxRequests: config.limits.maxRequestsPerBatch,
            maxLineBytes: MAX_LINE_BYTES,
            chunkSize: config.chunkSize,
            defaultModel: config.vllm.defaultModel,
          },
        }),
        },
      }),
    );
  }

  if (config.workerRoles.includes('inference')) {
    if (config.vllm.baseUrls.length === 0) throw new Error('the inference role needs VLLM_BASE_URL');
    models = config.vllm.models.length > 0 ? config.vllm.models : await discoverAllModels(config);
    if (models.length === 0) throw new Error(`no models served by ${config.vllm.baseUrls.join(', ')}`);
    const inference = new InferenceClient({
      pool: new BackendPool(config.vllm.baseUrls, config.vllm.maxInflightPerBackend),
      apiKey: config.vllm.apiKey,
      timeoutMs: config.vllm.requestTimeoutMs,
      retry: { ...DEFAULT_RETRY_POLICY, maxAttempts: config.vllm.requestMaxAttempts },
    });
    const activities = createInferenceActivities({ db, inference });
    for (const model of models) {
      workers.push(
        await Worker.create({
          ...common,
          taskQueue: inferenceTaskQueue(model),
          activities,
          maxConcurrentActivityTaskExecutions: CHUNKS_PER_INFERENCE_WORKER,
          // Cancellation reaches a chunk in a heartbeat's answer: beat often enough to stop within a second.
          maxHeartbeatThrottleInterval: '1 second',
        }),
      );
    }
    stopRegistration = await registerModels(db, models);
    logger.info({ models, backends: config.vllm.baseUrls }, 'GPU worker serving models');
  }

  const running = workers.map((worker) => worker.run());
  return {
    models,
    async shutdown() {
      await stopRegistration();
      for (const worker of workers) {
        if (worker.getState() === 'RUNNING') worker.shutdown();
      }
      await Promise.allSettled(running);
    },
  };
}

function workflowBundlePath(): string {
  if (!fs.existsSync(WORKFLOW_BUNDLE_PATH)) throw new Error(`${WORKFLOW_BUNDLE_PATH} is missing: run \`npm run build\``);
  return WORKFLOW_BUNDLE_PATH;
}

async function discoverAllModels(config: Config): Promise<string[]> {
  const lists = await Promise.all(config.vllm.baseUrls.map((url) => discoverModels(url, config.vllm.apiKey)));
  return [...new Set(lists.flat())].sort();
}

/** Announces the served models (validation and GET /v1/models read them) and keeps the announcement fresh. */
async function registerModels(db: Db, models: string[]): Promise<() => Promise<void>> {
  const workerId = `${os.hostname()}-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
  await heartbeatInferenceWorker(db, workerId, models);
  const timer = setInterval(() => {
    heartbeatInferenceWorker(db, workerId, models).catch((err: Error) =>
      logger.warn({ err: err.message }, 'model registration heartbeat failed'),
    );
  }, REGISTRATION_HEARTBEAT_MS);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await removeInferenceWorker(db, workerId).catch(() => undefined);
  };
}
