import { Router } from 'express';
import type { Db } from '../../db/pool';
import { listTargetableModels } from '../../batches/models';

/** `/v1/models`: the models live GPU workers serve, what a batch may target right now. */
export function modelsRouter(deps: { db: Db }): Router {
  const router = Router();
  router.get('/models', async (_req, res) => {
    res.json({ object: 'list', data: await listTargetableModels(deps.db) });
  });
  return router;
}
