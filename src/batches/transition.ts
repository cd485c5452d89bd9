import { batchTransitions } from '../metrics/instruments';
import { transitionBatch } from '../store/batches';

/**
 * `transitionBatch`, counted in vbs_batch_transitions_total: every status change goes through here.
 * Counted when the statement moved the batch; inside a transaction that then rolls back (a crash
 * before commit) one move may be counted that did not happen, and its retry is counted again.
 */
export async function moveBatch(...args: Parameters<typeof transitionBatch>): ReturnType<typeof transitionBatch> {
  const moved = await transitionBatch(...args);
  if (moved) batchTransitions.inc({ to: moved.status });
  return moved;
}
