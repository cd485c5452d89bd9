import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleOptionsStartWorkflowAction } from '@temporalio/client';
import type { reconcileWorkflow } from '../workflows/reconcile';
import { ORCHESTRATOR_TASK_QUEUE } from './definitions';

/** The reconciler's Schedule, one per namespace: what operators find under Schedules in the Temporal UI. */
export const RECONCILE_SCHEDULE_ID = 'vbs-reconcile';

/**
 * Creates the reconciler's Schedule, or brings an existing one to `everySeconds`: each orchestrator
 * calls this at start, so the interval of the latest deploy applies. Runs never overlap.
 */
export async function ensureReconcileSchedule(client: Client, everySeconds: number): Promise<void> {
  const spec = { intervals: [{ every: everySeconds * 1000 }] };
  const action: ScheduleOptionsStartWorkflowAction<typeof reconcileWorkflow> = {
    type: 'startWorkflow',
    workflowType: 'reconcileWorkflow',
    taskQueue: ORCHESTRATOR_TASK_QUEUE,
    args: [],
    workflowExecutionTimeout: '1 hour',
  };
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 minute' as const };
  try {
    await client.schedule.create({ scheduleId: RECONCILE_SCHEDULE_ID, spec, action, policies });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(RECONCILE_SCHEDULE_ID).update((previous) => ({ ...previous, spec, action, policies }));
  }
}
