import { Router } from 'express';
import type { Db } from '../../db/pool';
import type { WorkflowGateway } from '../../temporal/gateway';
import { listBatchDeliveries, replayDelivery } from '../../webhooks/deliveries';
import { toDeliveryObject } from '../../webhooks/object';
import { ApiError, notFound } from '../errors';
import { tenantOf } from '../tenant';

/** `/v1/batches/{id}/webhook_deliveries`: a batch's deliveries with every attempt, and replay of a failed one. */
export function webhookDeliveriesRouter(deps: { db: Db; workflows: WorkflowGateway }): Router {
  const router = Router();

  router.get('/batches/:id/webhook_deliveries', async (req, res) => {
    const deliveries = await listBatchDeliveries(deps.db, tenantOf(res), req.params.id);
    if (!deliveries) throw notFound('batch', req.params.id);
    const data = deliveries.map(toDeliveryObject);
    res.json({ object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: false });
  });

  router.post('/batches/:id/webhook_deliveries/:deliveryId/replay', async (req, res) => {
    const deliveryId = req.params.deliveryId;
    const outcome = await replayDelivery(deps, tenantOf(res), req.params.id, deliveryId);
    if (outcome.kind === 'batch_not_found') throw notFound('batch', req.params.id);
    if (outcome.kind === 'delivery_not_found') throw notFound('webhook delivery', deliveryId);
    // A conflict with the delivery's state, as every other state conflict: 409, not a bad parameter.
    if (outcome.kind === 'not_failed') {
      throw new ApiError(
        409,
        'invalid_request_error',
        'webhook_delivery_not_failed',
        `Webhook delivery '${deliveryId}' is ${outcome.delivery.status}; only failed deliveries can be replayed.`,
      );
    }
    res.json(toDeliveryObject(outcome.delivery));
  });

  return router;
}
