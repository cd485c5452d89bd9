import type { Queryable } from '../db/pool';
import type { BatchStatus } from '../states/batch';
import type { StoredRequestStatus } from '../states/request';

/** The statuses these read, as parameters: a status renamed in src/states fails to compile here. */
const RUNNING: BatchStatus = 'in_progress';
const QUEUED: StoredRequestStatus = 'queued';

/**
 * What the service has to do, read for the metrics at scrape time. Each is one statement; none
 * reads per-request rows except the queued requests (an index of the queued ones only).
 */

/** Every batch by status. */
export async function countBatchesByStatus(db: Queryable): Promise<Array<{ status: BatchStatus; count: number }>> {
  const { rows } = await db.query<{ status: BatchStatus; count: number }>(`SELECT status, count(*)::int AS count FROM batches GROUP BY status`);
  return rows;
}

export type ModelBacklog = { model: string; pending: number; nearest_deadline: Date };

/**
 * Per model, the requests of running batches that have no result yet, and the soonest a batch among
 * them expires: what a GPU autoscaler scales on. Only running batches have a model that validation
 * checked against the served ones, so the model set stays bounded.
 */
export async function pendingRequestsByModel(db: Queryable): Promise<ModelBacklog[]> {
  const { rows } = await db.query<ModelBacklog>(
    `SELECT model, sum(total_requests - completed_requests - failed_requests)::int AS pending, min(expires_at) AS nearest_deadline
     FROM batches
     WHERE status = $1 AND model IS NOT NULL
     GROUP BY model`,
    [RUNNING],
  );
  return rows;
}

/** Requests waiting in stream-to-batch queues, and how long the oldest has waited (0 when none). */
export async function queuedRequestsSummary(db: Queryable): Promise<{ queued: number; oldest_age_seconds: number }> {
  const { rows } = await db.query<{ queued: number; oldest_age_seconds: number }>(
    `SELECT count(*)::int AS queued, coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest_age_seconds
     FROM queued_requests WHERE status = $1`,
    [QUEUED],
  );
  return rows[0]!;
}
