import { ApplicationFailure } from '@temporalio/activity';
import type { Db } from '../db/pool';
import { logger } from '../logger';
import { webhookAttempts } from '../metrics/instruments';
import { findBatchById } from '../store/batches';
import { findDeliveryToSend, insertDelivery, markDeliveryFailed, recordAttempt } from '../store/webhooks';
import { sendWebhook } from '../webhooks/delivery';
import { receivesEvent, type DeliveryStatus, type WebhookEventType } from '../states/webhook';
import { buildWebhookEvent } from '../webhooks/payload';
import { newDeliveryId, newEventId } from '../webhooks/ids';
import { webhookHeaders } from '../webhooks/signing';
import { toUnixSeconds } from '../unixTime';

export type WebhookActivityConfig = {
  allowPrivate: boolean;
  /** WEBHOOK_SECRET: signs deliveries of batches that have no secret of their own. */
  defaultSecret: string | undefined;
  attemptTimeoutMs: number;
};

/** Failure types the webhook workflow sees; the refused one is never retried. */
const WEBHOOK_FAILURE = {
  attemptFailed: 'WebhookAttemptFailed',
  destinationRefused: 'WebhookDestinationRefused',
  notFound: 'WebhookNotFound',
} as const;

/** Webhook delivery activities (orchestrator role): thin wrappers over src/webhooks and the store. */
export function createWebhookActivities(deps: { db: Db; config: WebhookActivityConfig }) {
  const { db, config } = deps;
  return {
    /**
     * Records the event's delivery with its body, built now and sent unchanged on every attempt.
     * Null when the batch has no webhook or its webhook does not subscribe to this event.
     */
    async prepareWebhookDelivery(batchId: string, eventType: WebhookEventType): Promise<string | null> {
      const batch = await findBatchById(db, batchId);
      if (!batch) throw ApplicationFailure.nonRetryable(`batch ${batchId} does not exist`, WEBHOOK_FAILURE.notFound);
      if (!batch.webhook || !receivesEvent(batch.webhook, eventType)) return null;
      const event = buildWebhookEvent(batch, eventType, { id: newEventId(), createdAt: new Date() });
      const deliveryId = await insertDelivery(db, {
        id: newDeliveryId(),
        batchId,
        tenantId: batch.tenant_id,
        eventType,
        eventId: event.id,
        url: batch.webhook.url,
        payload: JSON.stringify(event),
      });
      logger.info({ batch_id: batchId, delivery_id: deliveryId, event: eventType }, 'webhook delivery prepared');
      return deliveryId;
    },

    /**
     * One attempt, recorded. Throws on failure so Temporal retries with backoff; a refused
     * destination throws non-retryable. A delivery that is no longer pending is left alone.
     */
    async deliverWebhook(deliveryId: string): Promise<Exclude<DeliveryStatus, 'pending'>> {
      const delivery = await findDeliveryToSend(db, deliveryId);
      if (!delivery) throw ApplicationFailure.nonRetryable(`webhook delivery ${deliveryId} does not exist`, WEBHOOK_FAILURE.notFound);
      if (delivery.status !== 'pending') return delivery.status;

      const startedAt = new Date();
      const headers = webhookHeaders({
        body: delivery.payload,
        secret: delivery.batch_secret ?? config.defaultSecret,
        eventId: delivery.event_id,
        timestamp: toUnixSeconds(startedAt),
      });
      const result = await sendWebhook({ url: delivery.url, body: delivery.payload, headers }, { allowPrivate: config.allowPrivate, timeoutMs: config.attemptTimeoutMs });
      webhookAttempts.inc({ outcome: result.outcome });
      const attemptNo = await recordAttempt(db, deliveryId, {
        startedAt,
        durationMs: result.durationMs,
        statusCode: result.statusCode,
        error: result.error,
        delivered: result.outcome === 'delivered',
      });
      const log = logger.child({
        batch_id: delivery.batch_id,
        delivery_id: deliveryId,
        event: delivery.event_type,
        attempt: attemptNo,
        status_code: result.statusCode,
        duration_ms: result.durationMs,
      });
      if (result.outcome === 'delivered') {
        log.info('webhook delivered');
        return 'delivered';
      }
      log.warn({ err: result.error }, 'webhook attempt failed');
      if (result.outcome === 'refused') throw ApplicationFailure.nonRetryable(result.error, WEBHOOK_FAILURE.destinationRefused);
      throw ApplicationFailure.retryable(result.error, WEBHOOK_FAILURE.attemptFailed);
    },

    async markWebhookFailed(deliveryId: string, reason: string): Promise<void> {
      await markDeliveryFailed(db, deliveryId, reason);
      logger.warn({ delivery_id: deliveryId, reason }, 'webhook delivery gave up');
    },
  };
}

export type WebhookActivities = ReturnType<typeof createWebhookActivities>;
