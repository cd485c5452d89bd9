import type { Db } from '../db/pool';
import { listSilentQueues } from '../store/queues';
import type { WorkflowGateway } from '../temporal/gateway';

/**
 * Wakes (or restarts, by signal-with-start) the dispatcher of every queue that holds requests but
 * has not been checked for `silentSeconds`: its workflow was terminated, and enqueues, which also
 * restart it, may never come. Returns how many were woken.
 */
export async function wakeSilentQueues(deps: { db: Db; workflows: WorkflowGateway }, silentSeconds: number, signal: AbortSignal): Promise<number> {
  const silent = await listSilentQueues(deps.db, silentSeconds);
  for (const queue of silent) {
    signal.throwIfAborted();
    await deps.workflows.notifyQueue(queue.tenant_id, queue.name);
  }
  return silent.length;
}
