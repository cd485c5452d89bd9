import { ActivityFailure, proxyActivities, setWorkflowOptions } from '@temporalio/workflow';
import type { WebhookActivities } from '../activities/webhooks';
import type { DeliveryStatus, WebhookEventType } from '../states/webhook';
import { whenVersioned } from './versioning';

export type WebhookWorkflowInput = { batchId: string; eventType: WebhookEventType };
export type WebhookWorkflowResult = { deliveryId: string | null; status: 'skipped' | Exclude<DeliveryStatus, 'pending'> };

const bookkeeping = proxyActivities<WebhookActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

const delivery = proxyActivities<WebhookActivities>({
  // Far above an attempt's own timeout: this only catches a worker that died mid-attempt.
  startToCloseTimeout: '5 minutes',
  // The receiver gets 24 hours to come back; the backoff keeps that to about 30 attempts.
  scheduleToCloseTimeout: '24 hours',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '1 hour' },
});

/**
 * Delivers one event of a batch. Started by the batch workflow as an abandoned child, so the batch
 * never waits for (or fails with) its receiver; started again by the API to replay a failed delivery.
 */
export async function webhookDeliveryWorkflow(input: WebhookWorkflowInput): Promise<WebhookWorkflowResult> {
  const deliveryId = await bookkeeping.prepareWebhookDelivery(input.batchId, input.eventType);
  if (deliveryId === null) return { deliveryId, status: 'skipped' };
  try {
    return { deliveryId, status: await delivery.deliverWebhook(deliveryId) };
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    await bookkeeping.markWebhookFailed(deliveryId, givingUpReason(err));
    return { deliveryId, status: 'failed' };
  }
}

function givingUpReason(failure: ActivityFailure): string {
  // A schedule-to-close timeout wraps the last attempt's failure: the innermost cause says what went wrong.
  let cause: Error = failure;
  while (cause.cause instanceof Error) cause = cause.cause;
  return failure.retryState === 'NON_RETRYABLE_FAILURE' ? cause.message : `gave up retrying: ${cause.message}`;
}

// Under Worker Versioning (WORKER_DEPLOYMENT_NAME): a delivery may retry for a day; it moves to each new build rather than hold an old one up (its changes must be patched).
setWorkflowOptions(whenVersioned('AUTO_UPGRADE'), webhookDeliveryWorkflow);
