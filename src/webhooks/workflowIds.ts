import type { WebhookEventType } from '../states/webhook';

/**
 * The delivery workflow of one event of a batch, named after the batch so operators find it beside
 * the batch in the Temporal UI. The N-th replay of a failed delivery runs under its own ID.
 */
export const webhookWorkflowId = (batchId: string, eventType: WebhookEventType, replay = 0) =>
  replay === 0 ? `${batchId}:webhook:${eventType}` : `${batchId}:webhook:${eventType}:replay-${replay}`;
