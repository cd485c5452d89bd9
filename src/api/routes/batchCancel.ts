import type { Client } from '@temporalio/client';
import { Router } from 'express';
import type { Db } from '../../db/pool';
import { cancelBatch } from '../../batches/cancel';
import { toBatchObject } from '../../batches/object';
import { ApiError, notFound } from '../errors';
import { tenantOf } from '../tenant';

/** `POST /v1/batches/{id}/cancel`: answers with the batch as it now is (`cancelling`, or `cancelled` if it was validating). */
export function batchCancelRouter(deps: { db: Db; temporal: Client }): Router {
  const router = Router();
  router.post('/batches/:id/cancel', async (req, res) => {
    const outcome = await cancelBatch(deps, tenantOf(res), req.params.id!);
    if (outcome.kind === 'not_found') throw notFound('batch', req.params.id!);
    if (outcome.kind === 'not_cancellable') {
      throw new ApiError(409, 'invalid_request_error', 'batch_not_cancellable', `Cannot cancel a batch with status '${outcome.batch.status}'.`);
    }
    res.json(toBatchObject(outcome.batch));
  });
  return router;
}
