import type { Queryable } from '../db/pool';

export type ApiKeyRow = {
  id: string;
  tenant_id: string;
  key_prefix: string;
  name: string | null;
  created_at: Date;
  revoked_at: Date | null;
};

export async function insertApiKey(db: Queryable, key: { id: string; tenantId: string; keyHash: string; keyPrefix: string; name: string | null }): Promise<ApiKeyRow> {
  const { rows } = await db.query<ApiKeyRow>(
    `INSERT INTO api_keys (id, tenant_id, key_hash, key_prefix, name) VALUES ($1, $2, $3, $4, $5)
     RETURNING id, tenant_id, key_prefix, name, created_at, revoked_at`,
    [key.id, key.tenantId, key.keyHash, key.keyPrefix, key.name],
  );
  return rows[0]!;
}

/** Returns the revoked key, or undefined when no such key exists or it was already revoked. */
export async function revokeApiKey(db: Queryable, id: string): Promise<ApiKeyRow | undefined> {
  const { rows } = await db.query<ApiKeyRow>(
    `UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL
     RETURNING id, tenant_id, key_prefix, name, created_at, revoked_at`,
    [id],
  );
  return rows[0];
}

export async function listApiKeys(db: Queryable): Promise<ApiKeyRow[]> {
  const { rows } = await db.query<ApiKeyRow>(`SELECT id, tenant_id, key_prefix, name, created_at, revoked_at FROM api_keys ORDER BY created_at, id`);
  return rows;
}

/**
 * The tenant of an active key with this hash (null when none), and whether any key was ever
 * created: one round trip per request, so a revocation takes effect on the very next request.
 */
export async function resolveApiKey(db: Queryable, keyHash: string | null): Promise<{ tenantId: string | null; anyKeys: boolean }> {
  const { rows } = await db.query<{ tenant_id: string | null; any_keys: boolean }>(
    `SELECT (SELECT tenant_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL) AS tenant_id,
            EXISTS (SELECT 1 FROM api_keys) AS any_keys`,
    [keyHash],
  );
  return { tenantId: rows[0]!.tenant_id, anyKeys: rows[0]!.any_keys };
}
