import type { Queryable } from '../db/pool';
import { BATCH_TRANSITIONS, INITIAL_STATUS, RUNS_CHUNKS, TERMINAL_STATUSES, type BatchStatus, type FinalizeOutcome } from '../states/batch';
import type { WebhookConfig } from '../states/webhook';

export type BatchError = { code: string; message: string; param: string | null; line: number | null };

export type BatchRow = {
  id: string;
  tenant_id: string;
  endpoint: string;
  model: string | null;
  input_file_id: string;
  completion_window: string;
  status: BatchStatus;
  /** The end finalize chose; once set, no result is stored and the batch may only move there. */
  final_status: FinalizeOutcome | null;
  /** While the batch runs, the result files being written (not yet visible); once terminal, its files. */
  output_file_id: string | null;
  error_file_id: string | null;
  errors: BatchError[] | null;
  metadata: Record<string, string> | null;
  /** The stream-to-batch queue the batch was cut from, if any. */
  queue: string | null;
  /** The batch whose failed lines this one retries (POST /v1/batches/{id}/retry), if any. */
  retry_of: string | null;
  /** The result files expire this long after they appear (OpenAI's `output_expires_after`). */
  output_expires_after_seconds: number | null;
  /** When retention dropped the batch's request rows (bodies), and its result rows. */
  requests_purged_at: Date | null;
  results_purged_at: Date | null;
  chunk_count: number | null;
  total_requests: number;
  completed_requests: number;
  failed_requests: number;
  input_tokens: number;
  output_tokens: number;
  created_at: Date;
  in_progress_at: Date | null;
  expires_at: Date;
  finalizing_at: Date | null;
  completed_at: Date | null;
  failed_at: Date | null;
  expired_at: Date | null;
  cancelling_at: Date | null;
  cancelled_at: Date | null;
  webhook: WebhookConfig | null;
};

export async function insertBatch(
  db: Queryable,
  batch: {
    id: string;
    tenantId: string;
    endpoint: string;
    model: string | null;
    inputFileId: string;
    completionWindow: string;
    windowSeconds: number;
    metadata: Record<string, string> | null;
    queue: string | null;
    outputExpiresAfterSeconds: number | null;
    retryOf: string | null;
  },
): Promise<BatchRow> {
  const { rows } = await db.query<BatchRow>(
    `INSERT INTO batches (id, tenant_id, endpoint, model, input_file_id, completion_window, status, metadata, expires_at, queue, output_expires_after_seconds, retry_of)
     VALUES ($1, $2, $3, $4, $5, $6, $9, $7, now() + make_interval(secs => $8), $10, $11, $12)
     RETURNING *`,
    [
      batch.id,
      batch.tenantId,
      batch.endpoint,
      batch.model,
      batch.inputFileId,
      batch.completionWindow,
      batch.metadata,
      batch.windowSeconds,
      INITIAL_STATUS,
      batch.queue,
      batch.outputExpiresAfterSeconds,
      batch.retryOf,
    ],
  );
  return rows[0]!;
}

/** A tenant's batch: another tenant's is not found, exactly like one that does not exist. Arguments go (tenantId, id), as everywhere in the store. */
export async function findBatch(db: Queryable, tenantId: string, batchId: string): Promise<BatchRow | undefined> {
  const { rows } = await db.query<BatchRow>(`SELECT * FROM batches WHERE id = $1 AND tenant_id = $2`, [batchId, tenantId]);
  return rows[0];
}

/** Any tenant's batch, by id: for the workers, which act on batches, never on a tenant's behalf. */
export async function findBatchById(db: Queryable, batchId: string): Promise<BatchRow | undefined> {
  const { rows } = await db.query<BatchRow>(`SELECT * FROM batches WHERE id = $1`, [batchId]);
  return rows[0];
}

/**
 * Reads the batch and holds its row lock until the transaction ends: result writes and other
 * lockers wait meanwhile. NO KEY UPDATE, the lock an UPDATE of the row takes, not FOR UPDATE: rows
 * that reference the batch (results, written chunks) are inserted under a KEY SHARE lock of its
 * row, which FOR UPDATE would wait for.
 */
export async function lockBatch(db: Queryable, batchId: string): Promise<BatchRow | undefined> {
  const { rows } = await db.query<BatchRow>(`SELECT * FROM batches WHERE id = $1 FOR NO KEY UPDATE`, [batchId]);
  return rows[0];
}

/**
 * Moves a batch to `to`, stamping `<to>_at`, only from an allowed status, and once finalize has fixed
 * the batch's end (`final_status`), only to that end. Returns the updated row, or undefined when the
 * move was not allowed (the caller decides whether that matters).
 */
export async function transitionBatch(
  db: Queryable,
  batchId: string,
  to: Exclude<BatchStatus, typeof INITIAL_STATUS>,
  fields: Partial<Pick<BatchRow, 'errors' | 'output_file_id' | 'error_file_id' | 'model' | 'chunk_count' | 'total_requests' | 'failed_requests'>> = {},
): Promise<BatchRow | undefined> {
  // The statement's time, not the transaction's: finalize writes the files before it stamps completed_at.
  const assignments = [`status = $2`, `${to}_at = statement_timestamp()`];
  const values: unknown[] = [batchId, to, BATCH_TRANSITIONS[to]];
  for (const [column, value] of Object.entries(fields)) {
    values.push(column === 'errors' ? JSON.stringify(value) : value);
    assignments.push(`${column} = $${values.length}`);
  }
  const { rows } = await db.query<BatchRow>(
    `UPDATE batches SET ${assignments.join(', ')} WHERE id = $1 AND status = ANY($3) AND (final_status IS NULL OR final_status = $2) RETURNING *`,
    values,
  );
  return rows[0];
}

/**
 * Fixes how the batch ends, once: a later call keeps the first end (read it from the returned row).
 * From this statement on, no result write is accepted (`storeResults` checks it under the same row
 * lock), so what finalize reads afterwards is final.
 */
export async function sealBatch(db: Queryable, batchId: string, outcome: FinalizeOutcome): Promise<BatchRow | undefined> {
  const { rows } = await db.query<BatchRow>(`UPDATE batches SET final_status = coalesce(final_status, $2) WHERE id = $1 RETURNING *`, [batchId, outcome]);
  return rows[0];
}

/**
 * Of `batchIds`, those no longer running (cancelling, or ended): their chunks must start nothing
 * more. One indexed lookup for all the batches a GPU worker runs chunks of.
 */
export async function findStoppedBatches(db: Queryable, batchIds: string[]): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(`SELECT id FROM batches WHERE id = ANY($1) AND status <> ALL($2)`, [batchIds, RUNS_CHUNKS]);
  return rows.map((r) => r.id);
}

/** Records the batch's result files, only if it has none yet (the caller holds the row lock). */
export async function setResultFiles(db: Queryable, batchId: string, files: { output: string; error: string }): Promise<void> {
  await db.query(`UPDATE batches SET output_file_id = $2, error_file_id = $3 WHERE id = $1 AND output_file_id IS NULL AND error_file_id IS NULL`, [
    batchId,
    files.output,
    files.error,
  ]);
}

/**
 * A page of the tenant's batches, newest first, starting after the batch `after`.
 * Undefined when `after` names no batch of this tenant.
 */
export async function listBatches(db: Queryable, tenantId: string, query: { after: string | undefined; limit: number }): Promise<BatchRow[] | undefined> {
  const { rows } = await db.query<BatchRow>(
    `WITH cursor AS (SELECT created_at, id FROM batches WHERE id = $2 AND tenant_id = $1)
     SELECT b.* FROM batches b
     WHERE b.tenant_id = $1 AND ($2::text IS NULL OR (b.created_at, b.id) < (SELECT created_at, id FROM cursor))
     ORDER BY b.created_at DESC, b.id DESC
     LIMIT $3`,
    [tenantId, query.after ?? null, query.limit],
  );
  if (rows.length === 0 && query.after !== undefined && !(await findBatch(db, tenantId, query.after))) return undefined;
  return rows;
}

/** The batches retrying each of `batchIds`' failed lines, oldest first (the retry_of index finds them); batches without retries are absent. */
export async function listRetries(db: Queryable, batchIds: string[]): Promise<Map<string, string[]>> {
  const { rows } = await db.query<{ retry_of: string; ids: string[] }>(
    `SELECT retry_of, array_agg(id ORDER BY created_at, id) AS ids FROM batches WHERE retry_of = ANY($1) GROUP BY retry_of`,
    [batchIds],
  );
  return new Map(rows.map((r) => [r.retry_of, r.ids]));
}

export type UnfinishedBatch = Pick<BatchRow, 'id' | 'status' | 'expires_at' | 'webhook'> & { age_seconds: number };

/**
 * A page of the batches not yet terminal, any tenant's, by ID after `after`: what the reconciler
 * compares with their workflows. A plain read; a batch that finishes meanwhile is left as it is by
 * finalize, which returns a terminal batch unchanged.
 */
export async function listUnfinishedBatches(db: Queryable, after: string, limit: number): Promise<UnfinishedBatch[]> {
  const { rows } = await db.query<UnfinishedBatch>(
    `SELECT id, status, expires_at, webhook, extract(epoch FROM now() - created_at)::float8 AS age_seconds
     FROM batches WHERE status <> ALL($1) AND id > $2 ORDER BY id LIMIT $3`,
    [TERMINAL_STATUSES, after, limit],
  );
  return rows;
}
