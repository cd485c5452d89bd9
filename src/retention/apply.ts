import type { Db, Queryable } from '../db/pool';
import {
  deleteRequestRows,
  dropResultRows,
  expireFiles,
  listBatchesWithRequests,
  listBatchesWithResults,
  markRequestsPurged,
  markResultsPurged,
} from '../store/retention';
import { IDEMPOTENCY_KEY_TTL_SECONDS } from '../states/idempotency';
import { deleteExpiredIdempotencyKeys } from '../store/idempotencyKeys';

/** What one retention pass did: files expired, and batches whose request bodies and results it dropped. */
export type RetentionReport = { filesExpired: number; batchesRequestsPurged: number; batchesResultsPurged: number; idempotencyKeysDeleted: number };

const FILES_PER_STATEMENT = 100;
const BATCHES_PER_PAGE = 100;
/** Short statements: a million-line batch is purged in many small deletes, never one long lock. */
const ROWS_PER_STATEMENT = 5_000;

/**
 * One retention pass: expires the files whose `expires_at` has passed, then drops the per-request
 * copies of ended batches, whose files hold everything: request bodies at once, results at once
 * too, except for a batch cut from a queue (its requests read their results there) until neither
 * of its result files is left; then only their content goes, its requests keeping their status. Idempotency keys go
 * once past their 24 hours. Every step is idempotent, so a pass stopped by `signal` (or a crash)
 * is finished by the next one.
 */
export async function applyRetention(db: Db, signal: AbortSignal): Promise<RetentionReport> {
  let filesExpired = 0;
  for (let expired = FILES_PER_STATEMENT; expired === FILES_PER_STATEMENT && !signal.aborted; filesExpired += expired) {
    expired = await expireFiles(db, FILES_PER_STATEMENT);
  }
  const batchesRequestsPurged = await purgeEach(db, signal, listBatchesWithRequests, deleteRequestRows, markRequestsPurged);
  const batchesResultsPurged = await purgeEach(db, signal, listBatchesWithResults, dropResultRows, markResultsPurged);
  let idempotencyKeysDeleted = 0;
  for (let deleted = ROWS_PER_STATEMENT; deleted === ROWS_PER_STATEMENT && !signal.aborted; idempotencyKeysDeleted += deleted) {
    deleted = await deleteExpiredIdempotencyKeys(db, IDEMPOTENCY_KEY_TTL_SECONDS, ROWS_PER_STATEMENT);
  }
  return { filesExpired, batchesRequestsPurged, batchesResultsPurged, idempotencyKeysDeleted };
}

/** For each batch `list` names: delete its rows in short statements, then mark it purged. Returns how many batches. */
async function purgeEach(
  db: Db,
  signal: AbortSignal,
  list: (db: Queryable, after: string, limit: number) => Promise<string[]>,
  deleteRows: (db: Queryable, batchId: string, limit: number) => Promise<number>,
  markPurged: (db: Queryable, batchId: string) => Promise<void>,
): Promise<number> {
  let purged = 0;
  for (let after = ''; !signal.aborted;) {
    const batchIds = await list(db, after, BATCHES_PER_PAGE);
    for (const batchId of batchIds) {
      while (!signal.aborted && (await deleteRows(db, batchId, ROWS_PER_STATEMENT)) === ROWS_PER_STATEMENT);
      if (signal.aborted) return purged;
      await markPurged(db, batchId);
      purged++;
    }
    if (batchIds.length < BATCHES_PER_PAGE) break;
    after = batchIds.at(-1)!;
  }
  return purged;
}
