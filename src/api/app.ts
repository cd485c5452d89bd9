import type { Client } from '@temporalio/client';
import express from 'express';
import type { Config } from '../config';
import type { Db } from '../db/pool';
import { authenticate } from './auth';
import { errorHandler, refuseUnstorablePath, unknownRoute } from './errors';
import { openApiRouter } from './openapi';
import { batchCancelRouter } from './routes/batchCancel';
import { batchesRouter } from './routes/batches';
import { filesRouter } from './routes/files';
import { healthRouter } from './routes/health';
import { modelsRouter } from './routes/models';
import { webhooksRouter } from './routes/webhooks';
import { TenantSlots } from './tenantSlots';
import type { BackendStatus } from '../worker/inferenceRole';

/** The HTTP API: OpenAI Files and Batches under /v1, health probes at the root. */
export function createApp(deps: { config: Config; db: Db; temporal: Client; backends?: () => BackendStatus[] }): express.Express {
  const { config, db, temporal } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.use(healthRouter({ db, temporal, backends: deps.backends }));
  app.use(openApiRouter());

  const v1 = express.Router();
  v1.use(authenticate({ staticKeys: config.apiKeys, db }));
  v1.use(refuseUnstorablePath);
  v1.use(express.json({ limit: '1mb', strict: false }));
  v1.use(filesRouter({ db, maxFileBytes: config.limits.maxFileBytes, uploadSlots: new TenantSlots(config.limits.maxConcurrentUploadsPerTenant) }));
  v1.use(batchesRouter({ db, temporal, webhookPolicy: { allowPrivate: config.webhooks.allowPrivate }, run: { chunksInFlight: config.chunksInFlightPerBatch, chunkHeartbeatTimeoutMs: config.chunkHeartbeatTimeoutMs } }));
  v1.use(batchCancelRouter({ db, temporal }));
  v1.use(modelsRouter({ db }));
  v1.use(webhooksRouter({ db, temporal }));
  app.use('/v1', v1);

  app.use(unknownRoute);
  app.use(errorHandler);
  return app;
}
