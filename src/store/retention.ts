import type { Queryable } from '../db/pool';
import { INITIAL_STATUS, TERMINAL_STATUSES } from '../states/batch';

/**
 * Deletes up to `limit` files whose `expires_at` has passed, as `DELETE /v1/files` does (content
 * dropped, row kept as a list cursor); an input a batch is still validating waits for the next pass.
 * Returns how many. Concurrent passes skip each other's files.
 */
export async function expireFiles(db: Queryable, limit: number): Promise<number> {
  const { rows } = await db.query<{ expired: number }>(
    `WITH due AS (
       SELECT f.id FROM files f
       WHERE f.expires_at <= now() AND f.deleted_at IS NULL AND f.status = 'processed'
         AND NOT EXISTS (SELECT 1 FROM batches b WHERE b.input_file_id = f.id AND b.status = $2)
       ORDER BY f.expires_at LIMIT $1
       FOR UPDATE SKIP LOCKED
     ), deleted AS (
       UPDATE files SET deleted_at = now() WHERE id IN (SELECT id FROM due) RETURNING id
     ), parts AS (DELETE FROM file_parts WHERE file_id IN (SELECT id FROM deleted))
     SELECT count(*)::int AS expired FROM deleted`,
    [limit, INITIAL_STATUS],
  );
  return rows[0]!.expired;
}

/** Ended batches whose request bodies are still stored, by ID after `after`. */
export async function listBatchesWithRequests(db: Queryable, after: string, limit: number): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(`SELECT id FROM batches WHERE requests_purged_at IS NULL AND status = ANY($1) AND id > $2 ORDER BY id LIMIT $3`, [
    TERMINAL_STATUSES,
    after,
    limit,
  ]);
  return rows.map((r) => r.id);
}

/**
 * Ended batches whose results are still stored and no longer needed, by ID after `after`: any but
 * those cut from a queue, and those once neither of their result files is left.
 */
export async function listBatchesWithResults(db: Queryable, after: string, limit: number): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT b.id FROM batches b
     WHERE b.results_purged_at IS NULL AND b.status = ANY($1) AND b.id > $2
       AND (b.queue IS NULL OR NOT EXISTS (
         SELECT 1 FROM files f WHERE f.id IN (b.output_file_id, b.error_file_id) AND f.deleted_at IS NULL))
     ORDER BY b.id LIMIT $3`,
    [TERMINAL_STATUSES, after, limit],
  );
  return rows.map((r) => r.id);
}

/** Deletes up to `limit` of the batch's request rows (bodies included); returns how many. */
export async function deleteRequestRows(db: Queryable, batchId: string, limit: number): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM batch_requests WHERE batch_id = $1 AND line_no IN (SELECT line_no FROM batch_requests WHERE batch_id = $1 ORDER BY line_no LIMIT $2)`,
    [batchId, limit],
  );
  return rowCount ?? 0;
}

/**
 * Drops up to `limit` of the batch's results; returns how many. Rows of a batch cut from a queue are
 * kept without their content (response body, error message), since its requests read their status
 * from them; the others are deleted.
 */
export async function dropResultRows(db: Queryable, batchId: string, limit: number): Promise<number> {
  const { rows } = await db.query<{ dropped: number }>(
    `WITH batch AS (SELECT queue IS NOT NULL AS queued FROM batches WHERE id = $1),
     page AS (
       SELECT line_no FROM batch_results
       WHERE batch_id = $1 AND (NOT (SELECT queued FROM batch) OR response_body IS NOT NULL OR error_message IS NOT NULL)
       ORDER BY line_no LIMIT $2
     ), deleted AS (
       DELETE FROM batch_results WHERE batch_id = $1 AND line_no IN (SELECT line_no FROM page) AND NOT (SELECT queued FROM batch) RETURNING 1
     ), blanked AS (
       UPDATE batch_results SET response_body = NULL, error_message = NULL
       WHERE batch_id = $1 AND line_no IN (SELECT line_no FROM page) AND (SELECT queued FROM batch) RETURNING 1
     )
     SELECT ((SELECT count(*) FROM deleted) + (SELECT count(*) FROM blanked))::int AS dropped`,
    [batchId, limit],
  );
  return rows[0]!.dropped;
}

/**
 * Marks the batch's request rows purged, emptying in the same statement the bodies of the queued
 * requests it was cut from (the queue API never shows them again; their status and result stay).
 */
export async function markRequestsPurged(db: Queryable, batchId: string): Promise<void> {
  await db.query(
    `WITH bodies AS (UPDATE queued_requests SET body = 'null' WHERE batch_id = $1 AND body::text <> 'null')
     UPDATE batches SET requests_purged_at = now() WHERE id = $1`,
    [batchId],
  );
}

export async function markResultsPurged(db: Queryable, batchId: string): Promise<void> {
  await db.query(`UPDATE batches SET results_purged_at = now() WHERE id = $1`, [batchId]);
}
