import type { Queryable } from '../db/pool';
import type { DeliveryStatus, WebhookConfig, WebhookEventType } from '../states/webhook';

/** The delivery statuses these write and match, as parameters: a status renamed in src/states fails to compile here. */
const PENDING: DeliveryStatus = 'pending';
const DELIVERED: DeliveryStatus = 'delivered';
const FAILED: DeliveryStatus = 'failed';

export type WebhookDeliveryRow = {
  id: string;
  batch_id: string;
  tenant_id: string;
  event_type: WebhookEventType;
  event_id: string;
  url: string;
  status: DeliveryStatus;
  attempt_count: number;
  replay_count: number;
  created_at: Date;
  delivered_at: Date | null;
  last_error: string | null;
};

export type WebhookAttemptRow = {
  delivery_id: string;
  attempt_no: number;
  started_at: Date;
  duration_ms: number;
  status_code: number | null;
  error: string | null;
};

/** What one attempt needs: the stored body, and the batch's own secret if it has one. */
export type DeliveryToSend = WebhookDeliveryRow & { payload: string; batch_secret: string | null };

const DELIVERY_COLUMNS = `d.id, d.batch_id, d.tenant_id, d.event_type, d.event_id, d.url, d.status, d.attempt_count,
  d.replay_count, d.created_at, d.delivered_at, d.last_error`;

export async function setBatchWebhook(db: Queryable, batchId: string, webhook: WebhookConfig): Promise<void> {
  await db.query(`UPDATE batches SET webhook = $2 WHERE id = $1`, [batchId, JSON.stringify(webhook)]);
}

/**
 * Records the delivery of one event of a batch, or finds the one already recorded: a retried
 * prepare keeps the first payload, so every attempt sends the same event ID and bytes.
 */
export async function insertDelivery(
  db: Queryable,
  delivery: { id: string; batchId: string; tenantId: string; eventType: WebhookEventType; eventId: string; url: string; payload: string },
): Promise<string> {
  await db.query(
    `INSERT INTO webhook_deliveries (id, batch_id, tenant_id, event_type, event_id, url, payload)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (batch_id, event_type) DO NOTHING`,
    [delivery.id, delivery.batchId, delivery.tenantId, delivery.eventType, delivery.eventId, delivery.url, delivery.payload],
  );
  // A separate statement: its snapshot sees a row a concurrent prepare committed first.
  const { rows } = await db.query<{ id: string }>(`SELECT id FROM webhook_deliveries WHERE batch_id = $1 AND event_type = $2`, [delivery.batchId, delivery.eventType]);
  return rows[0]!.id;
}

export async function findDeliveryToSend(db: Queryable, deliveryId: string): Promise<DeliveryToSend | undefined> {
  const { rows } = await db.query<DeliveryToSend>(
    `SELECT ${DELIVERY_COLUMNS}, d.payload, b.webhook->>'secret' AS batch_secret
     FROM webhook_deliveries d JOIN batches b ON b.id = d.batch_id
     WHERE d.id = $1`,
    [deliveryId],
  );
  return rows[0];
}

/**
 * Records one attempt and its effect on the delivery in one statement, so the attempt count and
 * the attempt rows never disagree. Returns the attempt's number.
 */
export async function recordAttempt(
  db: Queryable,
  deliveryId: string,
  attempt: { startedAt: Date; durationMs: number; statusCode: number | null; error: string | null; delivered: boolean },
): Promise<number> {
  const { rows } = await db.query<{ attempt_no: number }>(
    `WITH bumped AS (
       UPDATE webhook_deliveries SET
         attempt_count = attempt_count + 1,
         status = CASE WHEN $6 THEN $7 ELSE status END,
         delivered_at = CASE WHEN $6 THEN now() ELSE delivered_at END,
         last_error = $5::text
       WHERE id = $1
       RETURNING attempt_count
     )
     INSERT INTO webhook_attempts (delivery_id, attempt_no, started_at, duration_ms, status_code, error)
     SELECT $1, attempt_count, $2::timestamptz, $3::int, $4::int, $5::text FROM bumped
     RETURNING attempt_no`,
    [deliveryId, attempt.startedAt, attempt.durationMs, attempt.statusCode, attempt.error, attempt.delivered, DELIVERED],
  );
  if (!rows[0]) throw new Error(`webhook delivery ${deliveryId} does not exist`);
  return rows[0].attempt_no;
}

/** Gives up on a pending delivery; a delivery that got through meanwhile stays delivered. */
export async function markDeliveryFailed(db: Queryable, deliveryId: string, reason: string): Promise<void> {
  await db.query(`UPDATE webhook_deliveries SET status = $3, last_error = $2 WHERE id = $1 AND status = $4`, [deliveryId, reason, FAILED, PENDING]);
}

export type DeliveryWithAttempts = WebhookDeliveryRow & { attempts: WebhookAttemptRow[] };

/** A batch's deliveries in the order their events happened, each with its attempts in order. */
export async function listDeliveries(db: Queryable, batchId: string): Promise<DeliveryWithAttempts[]> {
  const deliveries = await db.query<WebhookDeliveryRow>(`SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.batch_id = $1 ORDER BY d.created_at, d.id`, [
    batchId,
  ]);
  if (deliveries.rows.length === 0) return [];
  const attempts = await db.query<WebhookAttemptRow>(`SELECT * FROM webhook_attempts WHERE delivery_id = ANY($1) ORDER BY delivery_id, attempt_no`, [
    deliveries.rows.map((d) => d.id),
  ]);
  return deliveries.rows.map((delivery) => ({
    ...delivery,
    attempts: attempts.rows.filter((a) => a.delivery_id === delivery.id),
  }));
}

export async function findDelivery(db: Queryable, batchId: string, deliveryId: string): Promise<WebhookDeliveryRow | undefined> {
  const { rows } = await db.query<WebhookDeliveryRow>(`SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.id = $1 AND d.batch_id = $2`, [deliveryId, batchId]);
  return rows[0];
}

/**
 * Puts a failed delivery back to pending for a replay. Only one of several concurrent replays
 * wins; `replay_count` numbers the replays, which keeps their workflow IDs distinct.
 */
export async function resetFailedDelivery(db: Queryable, batchId: string, deliveryId: string): Promise<WebhookDeliveryRow | undefined> {
  const { rows } = await db.query<WebhookDeliveryRow>(
    `UPDATE webhook_deliveries d SET status = $3, last_error = NULL, replay_count = replay_count + 1
     WHERE d.id = $1 AND d.batch_id = $2 AND d.status = $4
     RETURNING ${DELIVERY_COLUMNS}`,
    [deliveryId, batchId, PENDING, FAILED],
  );
  return rows[0];
}
