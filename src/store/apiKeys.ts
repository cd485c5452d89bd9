import type { Queryable } from '../db/pool';
import type { KeyScope } from '../states/apiKey';

export type ApiKeyRow = {
  id: string;
  tenant_id: string;
  scope: KeyScope;
  key_prefix: string;
  name: string | null;
  created_at: Date;
  revoked_at: Date | null;
};

const COLUMNS = 'id, tenant_id, scope, key_prefix, name, created_at, revoked_at';

/** Stores a new key by its hash only; the key itself is never written. */
export async function insertApiKey(
  db: Queryable,
  key: { id: string; tenantId: string; scope: KeyScope; keyHash: string; keyPrefix: string; name: string | null },
): Promise<ApiKeyRow> {
  const { rows } = await db.query<ApiKeyRow>(
    `INSERT INTO api_keys (id, tenant_id, scope, key_hash, key_prefix, name) VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${COLUMNS}`,
    [key.id, key.tenantId, key.scope, key.keyHash, key.keyPrefix, key.name],
  );
  return rows[0]!;
}

/** Returns the revoked key, or undefined when no such key exists or it was already revoked. */
export async function revokeApiKey(db: Queryable, id: string): Promise<ApiKeyRow | undefined> {
  const { rows } = await db.query<ApiKeyRow>(`UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING ${COLUMNS}`, [id]);
  return rows[0];
}

/** Every key, revoked ones included, oldest first; never a hash. */
export async function listApiKeys(db: Queryable): Promise<ApiKeyRow[]> {
  const { rows } = await db.query<ApiKeyRow>(`SELECT ${COLUMNS} FROM api_keys ORDER BY created_at, id`);
  return rows;
}

/**
 * The tenant and scope of an active key with this hash (null when none), and whether any key was
 * ever created: one round trip per request, so a revocation takes effect on the very next request.
 */
export async function resolveApiKey(db: Queryable, keyHash: string | null): Promise<{ key: { tenantId: string; scope: KeyScope } | null; anyKeys: boolean }> {
  const { rows } = await db.query<{ tenant_id: string | null; scope: KeyScope | null; any_keys: boolean }>(
    `SELECT active.tenant_id, active.scope, EXISTS (SELECT 1 FROM api_keys) AS any_keys
     FROM (SELECT 1) AS one
     LEFT JOIN api_keys AS active ON active.key_hash = $1 AND active.revoked_at IS NULL`,
    [keyHash],
  );
  const row = rows[0]!;
  return { key: row.tenant_id !== null && row.scope !== null ? { tenantId: row.tenant_id, scope: row.scope } : null, anyKeys: row.any_keys };
}
