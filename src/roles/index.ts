import fs from 'node:fs';
import type { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Config } from '../config';
import type { Db } from '../db/pool';
import { createOrchestratorActivities } from '../activities/orchestrator';
import { createQueueActivities } from '../activities/queues';
import { createReconcileActivities } from '../activities/reconcile';
import { createRetentionActivities } from '../activities/retention';
import { createUploadActivities } from '../activities/uploads';
import { createWebhookActivities } from '../activities/webhooks';
import { workflowGateway } from '../temporal/gateway';
import { ORCHESTRATOR_TASK_QUEUE } from '../domain/taskQueues';
import { promoteToCurrent, workerDeploymentOptions } from '../temporal/deployments';
import { ensureReconcileSchedule, ensureRetentionSchedule } from '../temporal/schedules';
import { logger } from '../logger';
import { untilTemporalAvailable } from '../temporal/availability';
import { MAX_LINE_BYTES } from '../batches/lineValidation';
import { WORKFLOW_BUNDLE_PATH } from './bundleWorkflows';
import { startInferenceRole, type InferenceRole } from './inferenceRole';

/** A queue holding requests whose dispatcher has not checked it for this long is woken by the reconciler. */
const SILENT_QUEUE_SECONDS = 120;

export type RunningRoles = { inference: InferenceRole | undefined; shutdown(): Promise<void> };

/**
 * Starts the worker roles this process plays, on one Temporal connection. `client` is for what the
 * activities start themselves (the batches a queue dispatches) and the orchestrator's Schedules.
 */
export async function startRoles(config: Config, db: Db, connection: NativeConnection, client: Client): Promise<RunningRoles> {
  const workers: Worker[] = [];
  const common = { connection, namespace: config.temporal.namespace, shutdownGraceTime: config.shutdownGraceMs };

  if (config.workerRoles.includes('orchestrator')) {
    const workflows = workflowGateway(client);
    workers.push(
      await untilTemporalAvailable(() =>
        Worker.create({
          ...common,
          taskQueue: ORCHESTRATOR_TASK_QUEUE,
          workflowBundle: { codePath: workflowBundlePath() },
          ...(config.temporal.deployment ? { workerDeploymentOptions: workerDeploymentOptions(config.temporal.deployment) } : {}),
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
                modelGraceSeconds: config.modelGraceSeconds,
              },
              run: { chunksInFlight: config.chunksInFlightPerBatch, chunkHeartbeatTimeoutMs: config.chunkHeartbeatTimeoutMs },
            }),
            ...createQueueActivities({
              db,
              workflows,
              defaults: config.queues.defaults,
              maxRequestsPerBatch: config.limits.maxRequestsPerBatch,
            }),
            ...createReconcileActivities({ db, workflows, silentQueueSeconds: SILENT_QUEUE_SECONDS }),
            ...createRetentionActivities({ db }),
            ...createUploadActivities({ db }),
          },
        }),
      ),
    );
    await untilTemporalAvailable(() => ensureReconcileSchedule(client, config.reconcileIntervalSeconds));
    await untilTemporalAvailable(() => ensureRetentionSchedule(client, config.retentionIntervalSeconds));
  }

  let inferenceRole: InferenceRole | undefined;
  if (config.workerRoles.includes('inference')) inferenceRole = await startInferenceRole(config, db, common);

  const running = workers.map((worker) => worker.run());
  const deployment = config.temporal.deployment;
  if (deployment?.promoteOnStart && config.workerRoles.includes('orchestrator')) {
    // Once polling: the server knows a version only from its pollers.
    await untilTemporalAvailable(() => promoteToCurrent(client, config.temporal.namespace, deployment));
    logger.info({ deployment: deployment.name, build_id: deployment.buildId }, 'this build is now the current version of its worker deployment');
  }
  return {
    inference: inferenceRole,
    async shutdown() {
      for (const worker of workers) {
        if (worker.getState() === 'RUNNING') worker.shutdown();
      }
      await Promise.all([inferenceRole?.shutdown(), Promise.allSettled(running)]);
    },
  };
}

function workflowBundlePath(): string {
  if (!fs.existsSync(WORKFLOW_BUNDLE_PATH)) throw new Error(`${WORKFLOW_BUNDLE_PATH} is missing: run \`npm run build\``);
  return WORKFLOW_BUNDLE_PATH;
}
