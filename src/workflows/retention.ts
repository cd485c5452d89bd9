import { proxyActivities, setWorkflowOptions } from '@temporalio/workflow';
import type { RetentionActivities } from '../activities/retention';
import type { RetentionReport } from '../retention/apply';

const { applyRetention } = proxyActivities<RetentionActivities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '30 seconds',
  // The next scheduled run finishes what this one did not; no need to pile up attempts.
  retry: { initialInterval: '5 seconds', maximumAttempts: 3 },
});

/**
 * One retention pass, started by the `vbs-retention` Schedule (src/temporal/schedules.ts, visible
 * in the Temporal UI under Schedules, where "Trigger" runs it at once): expired files deleted, the
 * per-request copies of ended batches dropped.
 */
export async function retentionWorkflow(): Promise<RetentionReport> {
  return applyRetention();
}

// Under Worker Versioning (WORKER_DEPLOYMENT_NAME): a pass is short and started by a Schedule; the newest build runs it.
setWorkflowOptions({ versioningBehavior: 'AUTO_UPGRADE' }, retentionWorkflow);
