import fs from 'node:fs';
import type { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { ServiceConfig } from '../config';
import type { Db } from '../db/pool';
import { createOrchestratorActivities } from '../activities/orchestrator';
import { createQueueActivities } from '../activities/queues';
import { createReconcileActivities } from '../activities/reconcile';
import { createRetentionActivities } from '../activities/retention';
import { createUploadActivities } from '../activities/uploads';
import { createWebhookActivities } from '../activities/webhooks';
import { workflowGateway } from '../temporal/gateway';
import { ORCHESTRATOR_TASK_QUEUE } from '../domain/taskQueues';
import { queueDefaults } from '../queues/settings';
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
export async function startRoles(config: Pick<ServiceConfig, 'orchestrator' | 'inference'>, db: Db, connection: NativeConnection, client: Client): Promise<RunningRoles> {
  const workers: Worker[] = [];
  const { orchestrator, inference } = config;
  // What both worker roles read: either role's settings have it.
  const shared = orchestrator ?? inference;
  if (!shared) throw new Error('no worker role to start');
  const common = { connection, namespace: shared.TEMPORAL_NAMESPACE, shutdownGraceTime: shared.SHUTDOWN_GRACE_MS };

  // Worker Versioning (orchestrator role): batch workflows are pinned to the build that started them.
  const deployment =
    orchestrator?.WORKER_DEPLOYMENT_NAME && orchestrator.WORKER_BUILD_ID
      ? { name: orchestrator.WORKER_DEPLOYMENT_NAME, buildId: orchestrator.WORKER_BUILD_ID }
      : undefined;
  if (orchestrator) {
    const workflows = workflowGateway(client);
    workers.push(
      await untilTemporalAvailable(() =>
        Worker.create({
          ...common,
          taskQueue: ORCHESTRATOR_TASK_QUEUE,
          workflowBundle: { codePath: workflowBundlePath() },
          ...(deployment ? { workerDeploymentOptions: workerDeploymentOptions(deployment) } : {}),
          activities: {
            ...createWebhookActivities({
              db,
              config: {
                allowPrivate: orchestrator.WEBHOOK_ALLOW_PRIVATE,
                defaultSecret: orchestrator.WEBHOOK_SECRET,
                attemptTimeoutMs: orchestrator.WEBHOOK_ATTEMPT_TIMEOUT_MS,
              },
            }),
            ...createOrchestratorActivities({
              db,
              limits: {
                maxRequests: orchestrator.MAX_REQUESTS_PER_BATCH,
                maxLineBytes: MAX_LINE_BYTES,
                chunkSize: orchestrator.CHUNK_SIZE,
                defaultModel: orchestrator.DEFAULT_MODEL,
                modelGraceSeconds: orchestrator.MODEL_GRACE_SECONDS,
              },
              run: { chunksInFlight: orchestrator.CHUNKS_IN_FLIGHT_PER_BATCH, chunkHeartbeatTimeoutMs: orchestrator.CHUNK_HEARTBEAT_TIMEOUT_MS },
            }),
            ...createQueueActivities({ db, workflows, defaults: queueDefaults(orchestrator), maxRequestsPerBatch: orchestrator.MAX_REQUESTS_PER_BATCH }),
            ...createReconcileActivities({ db, workflows, silentQueueSeconds: SILENT_QUEUE_SECONDS }),
            ...createRetentionActivities({ db }),
            ...createUploadActivities({ db }),
          },
        }),
      ),
    );
    await untilTemporalAvailable(() => ensureReconcileSchedule(client, orchestrator.RECONCILE_INTERVAL_SECONDS));
    await untilTemporalAvailable(() => ensureRetentionSchedule(client, orchestrator.RETENTION_INTERVAL_SECONDS));
  }

  let inferenceRole: InferenceRole | undefined;
  if (inference) inferenceRole = await startInferenceRole(inference, db, common);

  const running = workers.map((worker) => worker.run());
  if (deployment && orchestrator?.WORKER_DEPLOYMENT_PROMOTE) {
    // Once polling: the server knows a version only from its pollers.
    await untilTemporalAvailable(() => promoteToCurrent(client, orchestrator.TEMPORAL_NAMESPACE, deployment));
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
