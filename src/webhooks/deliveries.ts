import type { Db } from '../db/pool';
import { findBatch } from '../store/batches';
import { findDelivery, listDeliveries, markDeliveryFailed, resetFailedDelivery, type DeliveryWithAttempts, type WebhookDeliveryRow } from '../store/webhooks';
import type { WorkflowGateway } from '../temporal/gateway';

/** A batch's deliveries, each with its attempts; undefined when the tenant has no such batch. */
export async function listBatchDeliveries(db: Db, tenantId: string, batchId: string): Promise<DeliveryWithAttempts[] | undefined> {
  const batch = await findBatch(db, tenantId, batchId);
  return batch ? listDeliveries(db, batch.id) : undefined;
}

export type ReplayOutcome =
  | { kind: 'replayed'; delivery: DeliveryWithAttempts }
  | { kind: 'batch_not_found' }
  | { kind: 'delivery_not_found' }
  | { kind: 'not_failed'; delivery: WebhookDeliveryRow };

/**
 * Delivers a failed delivery again. It is reset to pending before its workflow starts, so the
 * workflow finds it pending; if Temporal refuses the start, it is marked failed again and the
 * error propagates.
 */
export async function replayDelivery(deps: { db: Db; workflows: WorkflowGateway }, tenantId: string, batchId: string, deliveryId: string): Promise<ReplayOutcome> {
  const batch = await findBatch(deps.db, tenantId, batchId);
  if (!batch) return { kind: 'batch_not_found' };
  const delivery = await resetFailedDelivery(deps.db, batch.id, deliveryId);
  if (!delivery) {
    const existing = await findDelivery(deps.db, batch.id, deliveryId);
    return existing ? { kind: 'not_failed', delivery: existing } : { kind: 'delivery_not_found' };
  }
  try {
    await deps.workflows.replayWebhookDelivery(batch.id, delivery.event_type, delivery.replay_count);
  } catch (err) {
    await markDeliveryFailed(deps.db, deliveryId, `replay could not start: ${(err as Error).message}`);
    throw err;
  }
  const replayed = (await listDeliveries(deps.db, batch.id)).find((d) => d.id === deliveryId)!;
  return { kind: 'replayed', delivery: replayed };
}
