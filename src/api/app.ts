import type { Client } from '@temporalio/client';
import express from 'express';
import type { Config } from '../config';
import type { Db } from '../db/pool';
import { authenticate, callerResolver, isOperator, requireOperator } from './auth';
import { errorHandler, refuseUnstorablePath, unknownRoute } from './errors';
import { jsonBody } from './jsonBody';
import { openApiRouter } from './openapi';
import { batchesRouter } from './routes/batches';
import { filesRouter } from './routes/files';
import { healthRouter } from './routes/health';
import { metricsRouter, rememberRouteBase, timeRequests } from './routes/metrics';
import { modelsRouter } from './routes/models';
import { queuesRouter } from './routes/queues';
import { requestsRouter } from './routes/requests';
import { webhookDeliveriesRouter } from './routes/webhookDeliveries';
import { TenantSlots } from './tenantSlots';
import type { ReadinessProbe } from '../readiness';
import { workflowGateway } from '../temporal/gateway';

/**
 * The HTTP API: OpenAI Files and Batches (and the stream-to-batch queues) under /v1, health probes
 * at the root, and /metrics there too unless METRICS_PORT gives it a listener of its own.
 */
export function createApp(deps: { config: Config; db: Db; temporal: Client; readiness: ReadinessProbe }): express.Express {
  const { config, db, temporal } = deps;
  const callers = callerResolver({ staticKeys: config.apiKeys, db });
  const app = express();
  app.disable('x-powered-by');
  app.use(timeRequests());
  if (config.metrics.port === undefined) app.use(metricsRouter(requireOperator(callers, config.metrics.bearerToken)));
  app.use(healthRouter({ readiness: deps.readiness, isOperator: (req) => isOperator(callers, req) }));
  app.use(openApiRouter());

  const v1 = express.Router();
  v1.use(rememberRouteBase);
  v1.use(authenticate(callers));
  v1.use(refuseUnstorablePath);
  // Enqueue calls carry many requests: their own, larger limit (the parser below skips a parsed body).
  v1.use('/requests', jsonBody(config.queues.maxCallBytes));
  v1.use(jsonBody('1mb'));
  v1.use(filesRouter({ db, maxFileBytes: config.limits.maxFileBytes, uploadSlots: new TenantSlots(config.limits.maxConcurrentUploadsPerTenant) }));
  const workflows = workflowGateway(temporal);
  v1.use(batchesRouter({ db, workflows, webhookPolicy: { allowPrivate: config.webhooks.allowPrivate } }));
  v1.use(webhookDeliveriesRouter({ db, workflows }));
  const queueDefaults = config.queues.defaults;
  v1.use(
    queuesRouter({
      db,
      workflows,
      defaults: queueDefaults,
      webhookPolicy: { allowPrivate: config.webhooks.allowPrivate },
      maxRequestsPerBatch: config.limits.maxRequestsPerBatch,
    }),
  );
  v1.use(
    requestsRouter({
      db,
      workflows,
      defaults: queueDefaults,
      maxQueuedPerTenant: config.queues.maxQueuedPerTenant,
      maxRequestsPerCall: config.queues.maxRequestsPerCall,
    }),
  );
  v1.use(modelsRouter({ db }));
  app.use('/v1', v1);

  app.use(unknownRoute);
  app.use(errorHandler);
  return app;
}
