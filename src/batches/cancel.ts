import type { Db } from '../db/pool';
import { INITIAL_STATUS } from '../states/batch';
import { findBatch, type BatchRow } from '../store/batches';
import { moveBatch } from './transition';
import { discardUnstartedBatch } from '../store/requests';
import type { WorkflowGateway } from '../temporal/gateway';

export type CancelOutcome = { kind: 'cancelling'; batch: BatchRow } | { kind: 'not_found' } | { kind: 'not_cancellable'; batch: BatchRow };

/**
 * A validating batch is cancelled at once; a running one moves to `cancelling` and its workflow is
 * signalled to stop, keep what finished and finalize. Repeating a cancel is harmless, and signals
 * again, in case an earlier signal was lost between the status update and the send.
 */
export async function cancelBatch(deps: { db: Db; workflows: WorkflowGateway }, tenantId: string, batchId: string): Promise<CancelOutcome> {
  const batch = await findBatch(deps.db, tenantId, batchId);
  if (!batch) return { kind: 'not_found' };
  const moved = batch.status === 'cancelling' ? batch : await startCancelling(deps.db, batch);
  if (!moved) {
    const current = (await findBatch(deps.db, tenantId, batchId))!;
    if (current.status !== 'cancelling') return { kind: 'not_cancellable', batch: current };
  }
  await deps.workflows.cancelBatch(batchId);
  return { kind: 'cancelling', batch: moved ?? (await findBatch(deps.db, tenantId, batchId))! };
}

/**
 * Each transition is conditional, so a batch that moved on meanwhile falls through to the next. A
 * batch cancelled while validating drops what its first chunks did at once (its workflow does too, as
 * it ends, in case this is cut short): it accepted no request.
 */
async function startCancelling(db: Db, batch: BatchRow): Promise<BatchRow | undefined> {
  const cancelled = batch.status === INITIAL_STATUS ? await moveBatch(db, batch.id, 'cancelled') : undefined;
  if (cancelled) {
    await discardUnstartedBatch(db, batch.id);
    return cancelled;
  }
  return moveBatch(db, batch.id, 'cancelling');
}
