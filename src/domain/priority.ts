import crypto from 'node:crypto';

/**
 * Extension: `metadata.priority` of a batch, `1` (first) to `5` (last), Temporal's task queue
 * priority keys; `3` when absent. It orders the batch's chunks in the task queue and its requests
 * at the GPU worker's backends; among equal priorities, tenants take turns.
 */
export const BATCH_PRIORITIES = ['1', '2', '3', '4', '5'] as const;
export const DEFAULT_BATCH_PRIORITY = 3;

export function batchPriority(metadata: Record<string, string> | null | undefined): number {
  const value = metadata?.priority;
  return value === undefined ? DEFAULT_BATCH_PRIORITY : Number(value);
}

/** Temporal fairness keys hold at most 64 bytes: a longer tenant id is replaced by its digest. */
export function fairnessKey(tenantId: string): string {
  return Buffer.byteLength(tenantId) <= 64 ? tenantId : crypto.createHash('sha256').update(tenantId).digest('hex');
}
