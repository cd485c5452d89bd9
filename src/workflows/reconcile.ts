import { proxyActivities, setWorkflowOptions } from '@temporalio/workflow';
import type { ReconcileActivities, ReconcileReport } from '../activities/reconcile';

const { reconcile } = proxyActivities<ReconcileActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '30 seconds',
  // The next scheduled run tries again; no need to pile up attempts.
  retry: { initialInterval: '5 seconds', maximumAttempts: 3 },
});

/**
 * One pass of the reconciler, started by the `reconcile` Schedule (src/temporal/schedules.ts,
 * visible in the Temporal UI under Schedules, where "Trigger" runs it at once): batches whose
 * workflow ended early are finished, silent queue dispatchers woken.
 */
export async function reconcileWorkflow(): Promise<ReconcileReport> {
  return reconcile();
}

// Under Worker Versioning (WORKER_DEPLOYMENT_NAME): a pass is short and started by a Schedule; the newest build runs it.
setWorkflowOptions({ versioningBehavior: 'AUTO_UPGRADE' }, reconcileWorkflow);
