import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Db } from '../db/pool';
import { findBatch, transitionBatch, type BatchRow } from '../store/batches';
import { CANCEL_SIGNAL } from '../temporal/names';

export type CancelOutcome = { kind: 'cancelling'; batch: BatchRow } | { kind: 'not_found' } | { kind: 'not_cancellable'; batch: BatchRow };

/**
 * A validating batch is cancelled at once; a running one moves to `cancelling` and its workflow is
 * signalled to stop, keep what finished and finalize. Repeating a cancel is harmless, and signals
 * again, in case an earlier signal was lost between the status update and the send.
 */
export async function cancelBatch(deps: { db: Db; temporal: Client }, tenantId: string, batchId: string): Promise<CancelOutcome> {
  const batch = await findBatch(deps.db, batchId, tenantId);
  if (!batch) return { kind: 'not_found' };
  const moved = batch.status === 'cancelling' ? batch : await startCancelling(deps.db, batch);
  if (!moved) {
    const current = (await findBatch(deps.db, batchId, tenantId))!;
    if (current.status !== 'cancelling') return { kind: 'not_cancellable', batch: current };
  }
  try {
    await deps.temporal.workflow.getHandle(batchId).signal(CANCEL_SIGNAL);
  } catch (err) {
    // A workflow that already ended has nothing left to stop.
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
  return { kind: 'cancelling', batch: moved ?? (await findBatch(deps.db, batchId, tenantId))! };
}

/** Each transition is conditional, so a batch that moved on meanwhile falls through to the next. */
async function startCancelling(db: Db, batch: BatchRow): Promise<BatchRow | undefined> {
  return (
    (batch.status === 'validating' ? await transitionBatch(db, batch.id, 'cancelled') : undefined) ??
    (await transitionBatch(db, batch.id, 'cancelling'))
  );
}
