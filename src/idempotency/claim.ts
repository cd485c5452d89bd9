import crypto from 'node:crypto';
import type { DbClient } from '../db/pool';
import { IDEMPOTENCY_KEY_TTL_SECONDS, type IdempotentOperation } from '../states/idempotency';
import { claimIdempotencyKey, findIdempotencyKey } from '../store/idempotencyKeys';

/** A create sent with an `Idempotency-Key`: the key, and a hash of what the request asked for. */
export type IdempotentRequest = { key: string; requestHash: string };

/** `claimed`: this call creates; `replay`: an earlier call with the same request created `resourceId`; `mismatch`: the key was used for another request. */
export type KeyClaim = { kind: 'claimed' } | { kind: 'replay'; resourceId: string } | { kind: 'mismatch' };

/**
 * Claims the key for `resourceId` in the caller's transaction, which then creates it: if that
 * transaction rolls back, so does the claim, and a retry may create. Concurrent calls with one key
 * queue on it; all but the first get the first one's resource.
 */
export async function claimKey(client: DbClient, tenantId: string, operation: IdempotentOperation, request: IdempotentRequest, resourceId: string): Promise<KeyClaim> {
  const claim = { tenantId, operation, key: request.key, requestHash: request.requestHash, resourceId, ttlSeconds: IDEMPOTENCY_KEY_TTL_SECONDS };
  if (await claimIdempotencyKey(client, claim)) return { kind: 'claimed' };
  const existing = await findIdempotencyKey(client, tenantId, operation, request.key);
  // Taken by a transaction that has since rolled back and expired meanwhile: vanishingly rare, and a retry claims it.
  if (!existing) throw new Error(`Idempotency-Key ${request.key} was taken and is gone; retry the request`);
  return existing.request_hash === request.requestHash ? { kind: 'replay', resourceId: existing.resource_id } : { kind: 'mismatch' };
}

/** A hash of a JSON value that ignores key order and whitespace: two requests asking the same thing hash the same. */
export function hashJson(value: unknown): string {
  return crypto.createHash('sha256').update(canonicalJson(value)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
