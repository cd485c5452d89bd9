import type { Client } from '@temporalio/client';
import { Router } from 'express';
import type { Db } from '../../db/pool';
import type { BackendStatus } from '../../worker/inferenceRole';
import { withTimeout } from '../../withTimeout';

const READY_PROBE_MS = 800;

function answersWithin(probe: Promise<unknown>, ms: number): Promise<boolean> {
  return withTimeout(probe, ms).then(
    () => true,
    () => false,
  );
}

/** Liveness says the process answers; readiness says its dependencies do too. */
export function healthRouter(deps: { db: Db; temporal: Client; backends?: () => BackendStatus[] }): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    // A dependency that does not answer within the probe's budget is as good as down: answer 503, never hang.
    const [postgres, temporal] = await Promise.all([
      answersWithin(deps.db.query('SELECT 1'), READY_PROBE_MS),
      answersWithin(deps.temporal.workflowService.getSystemInfo({}), READY_PROBE_MS),
    ]);
    // Backends are reported, not required: while they are down, work is accepted and waits for them.
    const backends = deps.backends?.();
    res.status(postgres && temporal ? 200 : 503).json({ status: postgres && temporal ? 'ok' : 'unavailable', postgres, temporal, ...(backends ? { backends } : {}) });
  });
  return router;
}
