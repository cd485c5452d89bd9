import type { Queryable } from '../db/pool';
import type { IdempotentOperation } from '../states/idempotency';

export type IdempotencyKeyRow = { request_hash: string; resource_id: string };

/**
 * Records that `key` created `resourceId`, unless the tenant's key is taken and younger than
 * `ttlSeconds` (an older one is taken over). True when recorded. A concurrent call with the same key
 * waits here until the first one's transaction ends, then finds the key taken (or free again, if that
 * transaction rolled back): exactly one of them creates.
 */
export async function claimIdempotencyKey(
  db: Queryable,
  claim: { tenantId: string; operation: IdempotentOperation; key: string; requestHash: string; resourceId: string; ttlSeconds: number },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO idempotency_keys AS k (tenant_id, operation, key, request_hash, resource_id) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (tenant_id, operation, key) DO UPDATE
       SET request_hash = EXCLUDED.request_hash, resource_id = EXCLUDED.resource_id, created_at = now()
       WHERE k.created_at <= now() - make_interval(secs => $6)`,
    [claim.tenantId, claim.operation, claim.key, claim.requestHash, claim.resourceId, claim.ttlSeconds],
  );
  return rowCount === 1;
}

/** The key as recorded; read in a statement of its own after a failed claim, so it sees the claim that won. */
export async function findIdempotencyKey(db: Queryable, tenantId: string, operation: IdempotentOperation, key: string): Promise<IdempotencyKeyRow | undefined> {
  const { rows } = await db.query<IdempotencyKeyRow>(`SELECT request_hash, resource_id FROM idempotency_keys WHERE tenant_id = $1 AND operation = $2 AND key = $3`, [
    tenantId,
    operation,
    key,
  ]);
  return rows[0];
}

/** Deletes up to `limit` keys past `ttlSeconds`; returns how many. */
export async function deleteExpiredIdempotencyKeys(db: Queryable, ttlSeconds: number, limit: number): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM idempotency_keys WHERE (tenant_id, operation, key) IN (
       SELECT tenant_id, operation, key FROM idempotency_keys WHERE created_at <= now() - make_interval(secs => $1) LIMIT $2)`,
    [ttlSeconds, limit],
  );
  return rowCount ?? 0;
}
