import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { EndpointKind } from '../domain/endpoints';
import { inferenceTaskQueue, ORCHESTRATOR_TASK_QUEUE } from '../domain/taskQueues';

export type TaskQueueBacklog = { count: number; ageSeconds: number };

/**
 * The server's estimate of a task queue's backlog of one kind (workflow or activity tasks): how
 * many wait for a worker, and how long the oldest has. Chunks waiting on `inference.<model>` are
 * GPU work no worker has picked up yet.
 */
async function taskQueueBacklog(client: Client, namespace: string, taskQueue: string, kind: TaskQueueKind): Promise<TaskQueueBacklog> {
  const { TaskQueueType } = temporal.api.enums.v1;
  const { stats } = await client.workflowService.describeTaskQueue({
    namespace,
    taskQueue: { name: taskQueue },
    taskQueueType: kind === 'workflow' ? TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW : TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    reportStats: true,
  });
  const age = stats?.approximateBacklogAge;
  return {
    count: Number(stats?.approximateBacklogCount ?? 0),
    ageSeconds: Number(age?.seconds ?? 0) + (age?.nanos ?? 0) / 1e9,
  };
}

export type TaskQueueKind = 'workflow' | 'activity';

/**
 * The backlogs worth watching: the orchestrator's workflow and activity tasks, and the chunk queue
 * of each served model and endpoint kind.
 */
export async function serviceBacklogs(
  client: Client,
  namespace: string,
  served: Array<{ model: string; kinds: EndpointKind[] }>,
): Promise<Array<TaskQueueBacklog & { taskQueue: string; kind: TaskQueueKind }>> {
  const queues: Array<{ taskQueue: string; kind: TaskQueueKind }> = [
    { taskQueue: ORCHESTRATOR_TASK_QUEUE, kind: 'workflow' },
    { taskQueue: ORCHESTRATOR_TASK_QUEUE, kind: 'activity' },
    ...served.flatMap(({ model, kinds }) => kinds.map((kind) => ({ taskQueue: inferenceTaskQueue(model, kind), kind: 'activity' as const }))),
  ];
  return Promise.all(queues.map(async (q) => ({ ...q, ...(await taskQueueBacklog(client, namespace, q.taskQueue, q.kind)) })));
}
