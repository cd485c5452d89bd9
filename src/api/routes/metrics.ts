import { Router, type RequestHandler } from 'express';
import { httpRequestDuration } from '../../metrics/instruments';
import { METRICS_CONTENT_TYPE, renderMetrics } from '../../metrics/registry';

/**
 * GET /metrics on the API's port, when no METRICS_PORT gives metrics a listener of their own: this
 * process's metrics in Prometheus text format (in `npm start` that includes the workers'). Behind
 * `guard` (operator keys, or METRICS_BEARER_TOKEN): its labels name the fleet's backends and models.
 */
export function metricsRouter(guard: RequestHandler): Router {
  const router = Router();
  router.get('/metrics', guard, async (_req, res) => {
    res.type(METRICS_CONTENT_TYPE).send(await renderMetrics());
  });
  return router;
}

/**
 * Times every API request by its route pattern: the operation's path (`/v1/batches/{batch_id}`), or
 * Express's for the routes outside the table; paths no route matched share one label, so a scan of
 * random URLs adds no series.
 */
export function timeRequests(): RequestHandler {
  return (req, res, next) => {
    const stop = httpRequestDuration.startTimer();
    res.once('finish', () => {
      const route = (res.locals.route as string | undefined) ?? (req.route ? `${req.baseUrl}${(req.route as { path: string }).path}` : 'unmatched');
      stop({ method: req.method, route, status_code: String(res.statusCode) });
    });
    next();
  };
}
