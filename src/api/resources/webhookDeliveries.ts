import { listBatchDeliveries, replayDelivery } from '../../webhooks/deliveries';
import { toDeliveryObject, WebhookDeliveryObject } from '../../webhooks/object';
import { defineOperation, found, notFound } from '../operation';
import { WebhookDeliveryList } from '../schemas';

/** `/v1/batches/{id}/webhook_deliveries` (extension): a batch's deliveries with every attempt, and replay of a failed one. */
export const webhookDeliveryOperations = [
  defineOperation({
    method: 'get',
    path: '/v1/batches/{batch_id}/webhook_deliveries',
    operationId: 'listWebhookDeliveries',
    summary: 'Webhook deliveries of a batch, each with every attempt (extension)',
    response: WebhookDeliveryList,
    handle: async ({ deps, tenantId, params }) => found(await listBatchDeliveries(deps.db, tenantId, params.batch_id)),
    refuse: { not_found: notFound('batch', 'batch_id') },
    reply: ({ value: deliveries }) => {
      const data = deliveries.map(toDeliveryObject);
      return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: false };
    },
  }),
  defineOperation({
    method: 'post',
    path: '/v1/batches/{batch_id}/webhook_deliveries/{delivery_id}/replay',
    operationId: 'replayWebhookDelivery',
    summary: 'Deliver a failed webhook event again (extension); one pending or delivered is a 409',
    response: WebhookDeliveryObject,
    handle: ({ deps, tenantId, params }) => replayDelivery(deps, tenantId, params.batch_id, params.delivery_id),
    refuse: {
      batch_not_found: notFound('batch', 'batch_id'),
      delivery_not_found: notFound('webhook delivery', 'delivery_id'),
      // A conflict with the delivery's state, as every other state conflict: 409, not a bad parameter.
      not_failed: {
        status: 409,
        code: 'webhook_delivery_not_failed',
        message: (o, { params }) => `Webhook delivery '${params.delivery_id}' is ${o.delivery.status}; only failed deliveries can be replayed.`,
      },
    },
    reply: (outcome) => toDeliveryObject(outcome.delivery),
  }),
];
