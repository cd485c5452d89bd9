import type { Db } from '../db/pool';
import { isTerminal, type FinalizeOutcome, type TerminalStatus } from '../states/batch';
import { subscribedEvents, terminalEvent } from '../states/webhook';
import { listUnfinishedBatches, type UnfinishedBatch } from '../store/batches';
import type { WorkflowGateway } from '../temporal/gateway';
import { finalizeBatch } from './finalize';

/**
 * A batch whose workflow cannot be found is left alone this long: a row can only exist without its
 * workflow once Temporal has dropped a closed history, or in a database restored beside another
 * Temporal, and a young row without one is someone else's (a test's, a migration's) business.
 */
export const MISSING_WORKFLOW_GRACE_SECONDS = 600;
const PAGE = 500;

export type ReconciledBatch = { batchId: string; was: UnfinishedBatch['status']; status: TerminalStatus };

/**
 * Brings every unfinished batch whose workflow has ended (terminated or reset from the Temporal UI,
 * failed, or gone) to a terminal status with its files, as its workflow would have: a batch being
 * cancelled ends cancelled, one past its window expired, one finalizing completed, any other
 * failed (its unfinished lines `batch_failed`). Then the webhook announces it. Idempotent: a batch
 * that finishes meanwhile is left as it ended.
 */
export async function reconcileBatches(deps: { db: Db; workflows: WorkflowGateway }, signal: AbortSignal): Promise<ReconciledBatch[]> {
  const reconciled: ReconciledBatch[] = [];
  for (let after = ''; ;) {
    const page = await listUnfinishedBatches(deps.db, after, PAGE);
    for (const batch of page) {
      signal.throwIfAborted();
      const workflow = await deps.workflows.batchWorkflowState(batch.id);
      if (workflow === 'running' || (workflow === 'missing' && batch.age_seconds < MISSING_WORKFLOW_GRACE_SECONDS)) continue;
      const done = await finalizeBatch(deps.db, batch.id, strandedOutcome(batch));
      if (!isTerminal(done.status)) continue;
      reconciled.push({ batchId: batch.id, was: batch.status, status: done.status });
      // Started once per batch and event: if the workflow got to announce it after all, this is a no-op.
      if (batch.webhook && subscribedEvents(batch.webhook).includes(terminalEvent(done.status))) {
        await deps.workflows.deliverWebhook(batch.id, terminalEvent(done.status));
      }
    }
    if (page.length < PAGE) return reconciled;
    after = page[page.length - 1]!.id;
  }
}

/** How a batch whose workflow is gone ends: as close as possible to what the workflow was doing. */
export function strandedOutcome(batch: Pick<UnfinishedBatch, 'status' | 'expires_at'>, now = new Date()): FinalizeOutcome {
  if (batch.status === 'cancelling') return 'cancelled';
  // Finalizing means every chunk was done: the window no longer matters, as in the workflow.
  if (batch.status === 'finalizing') return 'completed';
  if (batch.expires_at <= now) return 'expired';
  return 'failed';
}
