import { Router, type Request } from 'express';
import { readinessHttpStatus, type ReadinessProbe } from '../../readiness';

/**
 * Liveness says the process answers; readiness says its dependencies do too. Both are for probes
 * that send no key, so they tell the status only; an operator key also gets readiness's details
 * (which dependency is down, the backends), which are the fleet's topology.
 */
export function healthRouter(deps: { readiness: ReadinessProbe; isOperator: (req: Request) => Promise<boolean> }): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (req, res) => {
    // A key that cannot be checked (PostgreSQL down) gets the status: readiness never fails for a key.
    const [readiness, operator] = await Promise.all([deps.readiness(), deps.isOperator(req).catch(() => false)]);
    res.status(readinessHttpStatus(readiness)).json(operator ? readiness : { status: readiness.status });
  });
  return router;
}
