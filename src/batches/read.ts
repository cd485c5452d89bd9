import type { Db } from '../db/pool';
import { findBatch, listBatches, listRetries } from '../store/batches';
import { toBatchObject, type BatchObject } from './object';

/** The tenant's batch as the API shows it; undefined when the tenant has no batch of that id. */
export async function retrieveBatch(db: Db, tenantId: string, batchId: string): Promise<BatchObject | undefined> {
  const row = await findBatch(db, tenantId, batchId);
  if (!row) return undefined;
  const retries = await listRetries(db, [row.id]);
  return toBatchObject(row, retries.get(row.id));
}

/**
 * The tenant's batches after the cursor, newest first, up to `limit` plus one more when there are
 * more (what `has_more` reports); undefined when the cursor names no batch of the tenant.
 */
export async function listBatchPage(db: Db, tenantId: string, page: { after?: string; limit: number }): Promise<BatchObject[] | undefined> {
  const rows = await listBatches(db, tenantId, { after: page.after, limit: page.limit + 1 });
  if (!rows) return undefined;
  const retries = await listRetries(
    db,
    rows.map((r) => r.id),
  );
  return rows.map((row) => toBatchObject(row, retries.get(row.id)));
}
