import type { Client } from '@temporalio/client';
import express from 'express';
import type { Config } from '../config';
import type { Db } from '../db/pool';
import { authenticate, callerResolver, isOperator, requireOperator } from './auth';
import { errorHandler, refuseUnstorablePath, unknownRoute } from './errors';
import { openApiRouter } from './openapi';
import { operationsRouter, type ApiDeps } from './operation';
import { OPERATIONS } from './operations';
import { healthRouter } from './routes/health';
import { metricsRouter, timeRequests } from './routes/metrics';
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
  v1.use(authenticate(callers));
  v1.use(refuseUnstorablePath);
  v1.use(operationsRouter(OPERATIONS, apiDeps(config, db, temporal)));
  app.use('/v1', v1);

  app.use(unknownRoute);
  app.use(errorHandler);
  return app;
}

/** What the operations of the table are given: the use cases' dependencies and the API's limits. */
export function apiDeps(config: Config, db: Db, temporal: Client): ApiDeps {
  return {
    db,
    workflows: workflowGateway(temporal),
    webhookPolicy: { allowPrivate: config.webhooks.allowPrivate },
    uploads: { maxFileBytes: config.limits.maxFileBytes, slots: new TenantSlots(config.limits.maxConcurrentUploadsPerTenant) },
    queues: {
      defaults: config.queues.defaults,
      maxQueuedPerTenant: config.queues.maxQueuedPerTenant,
      maxRequestsPerCall: config.queues.maxRequestsPerCall,
      maxCallBytes: config.queues.maxCallBytes,
    },
    maxRequestsPerBatch: config.limits.maxRequestsPerBatch,
  };
}
