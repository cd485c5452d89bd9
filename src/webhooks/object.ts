import { z } from 'zod';
import type { DeliveryWithAttempts } from '../store/webhooks';
import { WEBHOOK_EVENT_TYPES } from './events';

const unixSeconds = z.number().int().nonnegative();

/** A delivery as the API shows it: what was sent where, and how every attempt went. */
export const WebhookDeliveryObject = z.strictObject({
  id: z.string(),
  object: z.literal('webhook_delivery'),
  batch_id: z.string(),
  event_id: z.string(),
  event_type: z.enum(WEBHOOK_EVENT_TYPES),
  url: z.string(),
  status: z.enum(['pending', 'delivered', 'failed']),
  attempt_count: z.number().int().nonnegative(),
  created_at: unixSeconds,
  delivered_at: unixSeconds.nullable(),
  last_error: z.string().nullable(),
  attempts: z.array(
    z.strictObject({
      attempt: z.number().int().positive(),
      started_at: unixSeconds,
      duration_ms: z.number().int().nonnegative().nullable(),
      status_code: z.number().int().nullable().describe('HTTP status the receiver answered, null when none'),
      error: z.string().nullable(),
    }),
  ),
});
export type WebhookDeliveryObject = z.infer<typeof WebhookDeliveryObject>;

const seconds = (date: Date | null) => (date === null ? null : Math.floor(date.getTime() / 1000));

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
    created_at: seconds(delivery.created_at)!,
    delivered_at: seconds(delivery.delivered_at),
    last_error: delivery.last_error,
    attempts: delivery.attempts.map((attempt) => ({
      attempt: attempt.attempt_no,
      started_at: seconds(attempt.started_at)!,
      duration_ms: attempt.duration_ms,
      status_code: attempt.status_code,
      error: attempt.error,
    })),
  };
}
