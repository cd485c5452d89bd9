import { proxyActivities, setWorkflowOptions, type ActivityOptions } from '@temporalio/workflow';
import type { ReconcileActivities, ReconcileReport } from '../activities/reconcile';
import type { RetentionActivities } from '../activities/retention';
import type { RetentionReport } from '../retention/apply';
import { whenVersioned } from './versioning';

/**
 * The passes the orchestrator's Schedules start (src/temporal/schedules.ts, visible in the Temporal
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

/** `vbs-reconcile`: batches whose workflow ended early are finished, silent queue dispatchers woken. */
export async function reconcileWorkflow(): Promise<ReconcileReport> {
  return reconcile();
}

/** `vbs-retention`: expired files deleted, the per-request copies of ended batches dropped. */
export async function retentionWorkflow(): Promise<RetentionReport> {
  return applyRetention();
}

// Under Worker Versioning (WORKER_DEPLOYMENT_NAME): a pass is short; the newest build runs it.
setWorkflowOptions(whenVersioned('AUTO_UPGRADE'), reconcileWorkflow);
setWorkflowOptions(whenVersioned('AUTO_UPGRADE'), retentionWorkflow);
