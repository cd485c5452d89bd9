import type { Client } from '@temporalio/client';
import { Router } from 'express';
import type { Db } from '../../db/pool';
import { findBatch } from '../../store/batches';
import { findDelivery, listDeliveries, markDeliveryFailed, resetFailedDelivery } from '../../store/webhooks';
import { ORCHESTRATOR_TASK_QUEUE } from '../../temporal/names';
import type { WebhookConfig } from '../../states/webhook';
import { webhookFromCreateRequest } from '../../webhooks/config';
import { resolvedRefusal, type DestinationPolicy } from '../../webhooks/destination';
import { toDeliveryObject } from '../../webhooks/object';
import { webhookWorkflowId } from '../../webhooks/workflowIds';
import type { webhookDeliveryWorkflow } from '../../workflows/webhook';
import { invalidRequest, notFound } from '../errors';
import { tenantOf } from '../tenant';

/**
 * The webhook of a batch create request (`webhook`, else `metadata.webhook_url`), with its
 * destination vetted now so a bad URL is a 400 rather than a delivery that can never succeed.
 */
export async function webhookForNewBatch(
  request: Parameters<typeof webhookFromCreateRequest>[0],
  policy: DestinationPolicy,
): Promise<WebhookConfig | null> {
  const found = webhookFromCreateRequest(request);
  if (!found) return null;
  const refusal = await resolvedRefusal(found.config.url, policy);
  if (refusal) throw invalidRequest(`Invalid '${found.param}': ${refusal}`, found.param, 'invalid_webhook_url');
  return found.config;
}

/** Deliveries of a batch's webhook events with every attempt, and replay of a failed one. */
export function webhooksRouter(deps: { db: Db; temporal: Client }): Router {
  const router = Router();

  router.get('/batches/:id/webhook_deliveries', async (req, res) => {
    const batch = await findBatch(deps.db, req.params.id!, tenantOf(res));
    if (!batch) throw notFound('batch', req.params.id!);
    const data = (await listDeliveries(deps.db, batch.id)).map(toDeliveryObject);
    res.json({ object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: false });
  });

  router.post('/batches/:id/webhook_deliveries/:deliveryId/replay', async (req, res) => {
    const batch = await findBatch(deps.db, req.params.id!, tenantOf(res));
    if (!batch) throw notFound('batch', req.params.id!);
    const deliveryId = req.params.deliveryId!;
    const delivery = await resetFailedDelivery(deps.db, batch.id, deliveryId);
    if (!delivery) {
      const existing = await findDelivery(deps.db, batch.id, deliveryId);
      if (!existing) throw notFound('webhook delivery', deliveryId);
      throw invalidRequest(
        `Webhook delivery '${deliveryId}' is ${existing.status}; only failed deliveries can be replayed.`,
        null,
        'webhook_delivery_not_failed',
      );
    }
    // Reset before starting, so the workflow finds the delivery pending; undone if Temporal refuses the start.
    try {
      await deps.temporal.workflow.start<typeof webhookDeliveryWorkflow>('webhookDeliveryWorkflow', {
        taskQueue: ORCHESTRATOR_TASK_QUEUE,
        workflowId: webhookWorkflowId(batch.id, delivery.event_type, delivery.replay_count),
        args: [{ batchId: batch.id, eventType: delivery.event_type }],
      });
    } catch (err) {
      await markDeliveryFailed(deps.db, deliveryId, `replay could not start: ${(err as Error).message}`);
      throw err;
    }
    const replayed = (await listDeliveries(deps.db, batch.id)).find((d) => d.id === deliveryId)!;
    res.json(toDeliveryObject(replayed));
  });

  return router;
}
