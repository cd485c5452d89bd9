import type { Client } from '@temporalio/client';
import type { WorkerDeploymentOptions } from '@temporalio/worker';
import { keepTrying } from '../transientFailures';

/** Worker Versioning: the Worker Deployment the orchestrator belongs to, and this build's ID in it. */
export type WorkerDeployment = { name: string; buildId: string };

/**
 * The orchestrator worker's versioning options: workflows are pinned to the build that started them
 * unless they declare otherwise (the long-lived or tiny ones upgrade: see src/workflows), so a
 * deploy never replays a running batch on changed code.
 */
export function workerDeploymentOptions(deployment: WorkerDeployment): WorkerDeploymentOptions {
  return { useWorkerVersioning: true, version: { deploymentName: deployment.name, buildId: deployment.buildId }, defaultVersioningBehavior: 'PINNED' };
}

/**
 * Makes this build its deployment's current version: new workflows start on it, pinned ones stay on
 * theirs. Retried for up to `timeoutMs` while the server has not yet seen this build's pollers.
 */
export async function promoteToCurrent(client: Client, namespace: string, deployment: WorkerDeployment, timeoutMs = 60_000): Promise<void> {
  await keepTrying(
    timeoutMs,
    () =>
      client.workflowService.setWorkerDeploymentCurrentVersion({
        namespace,
        deploymentName: deployment.name,
        buildId: deployment.buildId,
        identity: `vllm-batch-server ${deployment.buildId}`,
      }),
    { initialDelayMs: 200, maxDelayMs: 2_000 },
  );
}
