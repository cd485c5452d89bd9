import { proxyActivities, setWorkflowOptions, type ActivityOptions } from '@temporalio/workflow';
import type { ReconcileActivities, ReconcileReport } from '../activities/reconcile';
import type { RetentionActivities } from '../activities/retention';
import type { UploadActivities } from '../activities/uploads';
import type { RetentionReport } from '../retention/apply';
import { whenVersioned } from './versioning';

/**
 * The passes Schedules start on the orchestrator's task queue (src/temporal/schedules.ts, visible in the Temporal
 * UI under Schedules, where "Trigger" runs one at once). Each is one activity; the next scheduled
 * run finishes what a failed one did not, so attempts do not pile up.
 */
const PASS: ActivityOptions = {
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '5 seconds', maximumAttempts: 3 },
};
const { reconcile } = proxyActivities<ReconcileActivities>(PASS);
const { applyRetention } = proxyActivities<RetentionActivities>(PASS);
const { sweepAbandonedUploads } = proxyActivities<UploadActivities>(PASS);

/** `vbs-reconcile`: batches whose workflow ended early are finished, silent queue dispatchers woken. */
export async function reconcileWorkflow(): Promise<ReconcileReport> {
  return reconcile();
}

/** `vbs-retention`: expired files deleted, the per-request copies of ended batches dropped. */
export async function retentionWorkflow(): Promise<RetentionReport> {
  return applyRetention();
}

/**
 * `vbs-upload-sweep`: uploads a crash cut short deleted. How long an upload may take is the API's
 * setting (its request timeout), so the API puts it into the Schedule's arguments.
 */
export async function uploadSweepWorkflow(input: { abandonedAfterMs: number }): Promise<{ deleted: number }> {
  return { deleted: await sweepAbandonedUploads(input.abandonedAfterMs) };
}

// Under Worker Versioning (WORKER_DEPLOYMENT_NAME): a pass is short; the newest build runs it.
setWorkflowOptions(whenVersioned('AUTO_UPGRADE'), reconcileWorkflow);
setWorkflowOptions(whenVersioned('AUTO_UPGRADE'), retentionWorkflow);
setWorkflowOptions(whenVersioned('AUTO_UPGRADE'), uploadSweepWorkflow);
