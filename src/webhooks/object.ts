import { z } from 'zod';
import type { DeliveryWithAttempts } from '../store/webhooks';
import { DELIVERY_STATUSES, WEBHOOK_EVENT_TYPES } from '../states/webhook';
import { toUnixSeconds, toUnixSecondsOrNull, UnixSeconds } from '../unixTime';

/** A delivery as the API shows it: what was sent where, and how every attempt went. */
export const WebhookDeliveryObject = z.strictObject({
  id: z.string(),
  object: z.literal('webhook_delivery'),
  batch_id: z.string(),
  event_id: z.string(),
  event_type: z.enum(WEBHOOK_EVENT_TYPES),
  url: z.string(),
  status: z.enum(DELIVERY_STATUSES),
  attempt_count: z.number().int().nonnegative(),
  created_at: UnixSeconds,
  delivered_at: UnixSeconds.nullable(),
  last_error: z.string().nullable(),
  attempts: z.array(
    z.strictObject({
      attempt: z.number().int().positive(),
      started_at: UnixSeconds,
      duration_ms: z.number().int().nonnegative().nullable(),
      status_code: z.number().int().nullable().describe('HTTP status the receiver answered, null when none'),
      error: z.string().nullable(),
    }),
  ),
});
export type WebhookDeliveryObject = z.infer<typeof WebhookDeliveryObject>;

export function toDeliveryObject(delivery: DeliveryWithAttempts): WebhookDeliveryObject {
  return {
    id: delivery.id,
    object: 'webhook_delivery',
    batch_id: delivery.batch_id,
    event_id: delivery.event_id,
    event_type: delivery.event_type,
    url: delivery.url,
    status: delivery.status,
    attempt_count: delivery.attempt_count,
    created_at: toUnixSeconds(delivery.created_at),
    delivered_at: toUnixSecondsOrNull(delivery.delivered_at),
    last_error: delivery.last_error,
    attempts: delivery.attempts.map((attempt) => ({
      attempt: attempt.attempt_no,
      started_at: toUnixSeconds(attempt.started_at),
      duration_ms: attempt.duration_ms,
      status_code: attempt.status_code,
      error: attempt.error,
    })),
  };
}
