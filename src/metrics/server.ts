import http from 'node:http';
import { readinessHttpStatus, type ReadinessProbe } from '../readiness';
import { bearerTokenMatches } from '../secrets';
import { METRICS_CONTENT_TYPE, renderMetrics } from './registry';

/**
 * The metrics listener (METRICS_PORT; every worker without the API, and an API process that sets
 * it): GET /metrics, and GET /readyz with its details (backends, models, depths), for operators
 * and Prometheus on a port the clients of the API never reach. With `bearerToken`
 * (METRICS_BEARER_TOKEN), both need `Authorization: Bearer <token>`, as Prometheus'
 * `authorization` scrape setting sends it.
 */
export async function startMetricsServer(
  port: number,
  host: string,
  options: { bearerToken: string | undefined; readiness: ReadinessProbe },
): Promise<{ port: number; close: () => Promise<void> }> {
  const answer = (res: http.ServerResponse, status: number, contentType: string, body: string) => res.writeHead(status, { 'content-type': contentType }).end(body);
  const server = http.createServer((req, res) => {
    const path = req.url?.split('?')[0];
    if (req.method !== 'GET' || (path !== '/metrics' && path !== '/readyz')) {
      answer(res, 404, 'text/plain', 'not found: GET /metrics or /readyz\n');
      return;
    }
    if (options.bearerToken !== undefined && !bearerTokenMatches(req.headers.authorization, options.bearerToken)) {
      res.setHeader('www-authenticate', 'Bearer');
      answer(res, 401, 'text/plain', 'unauthorized: send METRICS_BEARER_TOKEN as Authorization: Bearer <token>\n');
      return;
    }
    const rendered =
      path === '/metrics'
        ? renderMetrics().then((text) => ({ status: 200, contentType: METRICS_CONTENT_TYPE, body: text }))
        : options.readiness().then((readiness) => ({ status: readinessHttpStatus(readiness), contentType: 'application/json', body: JSON.stringify(readiness) }));
    rendered.then(
      ({ status, contentType, body }) => answer(res, status, contentType, body),
      () => answer(res, 500, 'text/plain', 'internal error\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
