import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleOptionsStartWorkflowAction, type Workflow } from '@temporalio/client';
import type * as workflows from '../workflows';
import { ORCHESTRATOR_TASK_QUEUE } from '../domain/taskQueues';

/**
 * Every periodic job is a Schedule, one each per namespace, run on the orchestrator's task queue:
 * what operators find under Schedules in the Temporal UI. Each is kept up to date by the role that
 * owns its settings.
 */
export const RECONCILE_SCHEDULE_ID = 'vbs-reconcile';
export const RETENTION_SCHEDULE_ID = 'vbs-retention';
export const UPLOAD_SWEEP_SCHEDULE_ID = 'vbs-upload-sweep';

/** By the orchestrator role. */
export const ensureReconcileSchedule = (client: Client, everySeconds: number) => ensureSchedule(client, RECONCILE_SCHEDULE_ID, 'reconcileWorkflow', [], everySeconds);
/** By the orchestrator role. */
export const ensureRetentionSchedule = (client: Client, everySeconds: number) => ensureSchedule(client, RETENTION_SCHEDULE_ID, 'retentionWorkflow', [], everySeconds);
/**
 * By the API role: an upload is abandoned once it has lasted longer than the API's longest request
 * (`requestTimeoutMs`), with a minute's margin for the last part's write.
 */
export const ensureUploadSweepSchedule = (client: Client, everySeconds: number, requestTimeoutMs: number) =>
  ensureSchedule(client, UPLOAD_SWEEP_SCHEDULE_ID, 'uploadSweepWorkflow', [{ abandonedAfterMs: requestTimeoutMs + 60_000 }], everySeconds);

type Workflows = typeof workflows;

/**
 * Creates a Schedule running `workflowType` with `args` every `everySeconds`, or brings an existing
 * one to them: each process of the owning role calls this at start, so the settings of the latest
 * deploy apply. Runs never overlap.
 */
async function ensureSchedule<Name extends keyof Workflows>(
  client: Client,
  scheduleId: string,
  workflowType: Name,
  args: Parameters<Workflows[Name]>,
  everySeconds: number,
): Promise<void> {
  const spec = { intervals: [{ every: everySeconds * 1000 }] };
  const action: ScheduleOptionsStartWorkflowAction<Workflow> = {
    type: 'startWorkflow',
    workflowType,
    taskQueue: ORCHESTRATOR_TASK_QUEUE,
    args,
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
