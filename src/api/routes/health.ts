import type { Client } from '@temporalio/client';
import { Router } from 'express';
import type { Db } from '../../db/pool';

/** Liveness says the process answers; readiness says its dependencies do too. */
export function healthRouter(deps: { db: Db; temporal: Client }): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const [postgres, temporal] = await Promise.all([
      deps.db.query('SELECT 1').then(() => true, () => false),
      deps.temporal.workflowService.getSystemInfo({}).then(() => true, () => false),
    ]);
    res.status(postgres && temporal ? 200 : 503).json({ status: postgres && temporal ? 'ok' : 'unavailable', postgres, temporal });
  });
  return router;
}
