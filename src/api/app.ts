import type { Client } from '@temporalio/client';
import express from 'express';
import type { Settings } from '../config';
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
export function createApp(deps: { config: Settings<'api'>; db: Db; temporal: Client; readiness: ReadinessProbe }): express.Express {
  const { config, db, temporal } = deps;
  const callers = callerResolver({ staticKeys: new Map([...config.API_KEYS, ...config.OPERATOR_API_KEYS]), db });
  const app = express();
  app.disable('x-powered-by');
  app.use(timeRequests());
  if (config.METRICS_PORT === undefined) app.use(metricsRouter(requireOperator(callers, config.METRICS_BEARER_TOKEN)));
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

/**
 * What the operations of the table are given: the use cases' dependencies and the API's limits. The
 * queue defaults and MAX_REQUESTS_PER_BATCH are the orchestrator's: the queue use cases read what it published.
 */
export function apiDeps(config: Settings<'api'>, db: Db, temporal: Client): ApiDeps {
  return {
    db,
    workflows: workflowGateway(temporal),
    webhookPolicy: { allowPrivate: config.WEBHOOK_ALLOW_PRIVATE },
    uploads: { maxFileBytes: config.MAX_FILE_BYTES, slots: new TenantSlots(config.MAX_CONCURRENT_UPLOADS_PER_TENANT) },
    queues: { maxQueuedPerTenant: config.MAX_QUEUED_REQUESTS_PER_TENANT, maxRequestsPerCall: config.MAX_REQUESTS_PER_CALL, maxCallBytes: config.MAX_ENQUEUE_BYTES },
  };
}
