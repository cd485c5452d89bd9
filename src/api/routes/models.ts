import { Router } from 'express';
import type { Db } from '../../db/pool';
import { listLiveModels } from '../../store/workers';
import { toUnixSeconds } from '../../unixTime';

/** The models live GPU workers serve: what a batch may target right now. */
export function modelsRouter(deps: { db: Db }): Router {
  const router = Router();
  router.get('/models', async (_req, res) => {
    const models = await listLiveModels(deps.db);
    res.json({
      object: 'list',
      data: models.map((m) => ({
        id: m.model,
        object: 'model',
        created: toUnixSeconds(m.first_seen),
        owned_by: 'vllm-batch-server',
      })),
    });
  });
  return router;
}
