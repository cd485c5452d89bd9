import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleOptionsStartWorkflowAction, type Workflow } from '@temporalio/client';
import type * as workflows from '../workflows';
import { ORCHESTRATOR_TASK_QUEUE } from '../domain/taskQueues';

/** The Schedules of the orchestrator role, one each per namespace: what operators find under Schedules in the Temporal UI. */
export const RECONCILE_SCHEDULE_ID = 'vbs-reconcile';
export const RETENTION_SCHEDULE_ID = 'vbs-retention';

export const ensureReconcileSchedule = (client: Client, everySeconds: number) => ensureSchedule(client, RECONCILE_SCHEDULE_ID, 'reconcileWorkflow', everySeconds);
export const ensureRetentionSchedule = (client: Client, everySeconds: number) => ensureSchedule(client, RETENTION_SCHEDULE_ID, 'retentionWorkflow', everySeconds);

/** The workflows a Schedule may start: those taking no arguments. */
type ScheduledWorkflow = { [Name in keyof typeof workflows]: Parameters<(typeof workflows)[Name]> extends [] ? Name : never }[keyof typeof workflows];

/**
 * Creates a Schedule running `workflowType` (no arguments) every `everySeconds`, or brings an
 * existing one to that interval: each orchestrator calls this at start, so the interval of the
 * latest deploy applies. Runs never overlap.
 */
async function ensureSchedule(client: Client, scheduleId: string, workflowType: ScheduledWorkflow, everySeconds: number): Promise<void> {
  const spec = { intervals: [{ every: everySeconds * 1000 }] };
  const action: ScheduleOptionsStartWorkflowAction<Workflow> = {
    type: 'startWorkflow',
    workflowType,
    taskQueue: ORCHESTRATOR_TASK_QUEUE,
    args: [],
    workflowExecutionTimeout: '1 hour',
  };
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 minute' as const };
  try {
    await client.schedule.create({ scheduleId, spec, action, policies });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action, policies }));
  }
}
