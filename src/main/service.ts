import http from 'node:http';
import { NativeConnection, Runtime } from '@temporalio/worker';
import { createApp } from '../api/app';
import { createHttpServer } from '../api/server';
import type { ServiceConfig } from '../config';
import { publishSettings, refuseConflicts } from '../config/published';
import { migrate } from '../db/migrate';
import { createPool, untilDatabaseAvailable } from '../db/pool';
import { logger } from '../logger';
import { observeBackends, observeDatabase, observeTaskQueues } from '../metrics/observers';
import { endpointKind } from '../domain/endpoints';
import { listTargetableModels } from '../batches/models';
import { serviceBacklogs } from '../temporal/backlog';
import { reserveTemporalCoreMetricsAddress } from '../metrics/registry';
import { startMetricsServer } from '../metrics/server';
import { readinessProbe } from '../readiness';
import { resolveApiKey } from '../store/apiKeys';
import { connectClient } from '../temporal/gateway';
import { untilTemporalAvailable } from '../temporal/availability';
import { ensureSearchAttributes } from '../temporal/registerSearchAttributes';
import { ensureUploadSweepSchedule } from '../temporal/schedules';
import { sdkLogger } from '../temporal/sdkLogger';
import { startRoles, type RunningRoles } from '../roles';

export type RunningService = { apiUrl: string | undefined; stop: () => Promise<void> };

/** Where a worker without the API serves its metrics when METRICS_PORT is unset. */
const DEFAULT_WORKER_METRICS_PORT = 9464;

/** Connections the worker roles' pool keeps open while idle (createPool's `warm`). */
const WARM_WORKER_CONNECTIONS = 4;

/**
 * Starts the roles of `config` against a Postgres and a Temporal: migrations, the owner's published
 * settings (or the check that this process agrees with them), then the worker roles, then the API
 * (last, so it never accepts work nothing can run). Either may be away, now or later: start-up waits
 * for it, and nothing exits because of it.
 */
export async function startService(config: ServiceConfig): Promise<RunningService> {
  const { api } = config;
  const worker = config.orchestrator ?? config.inference;
  // What every role reads: any role's settings have it.
  const shared = api ?? worker;
  if (!shared) throw new Error('a process of the service plays at least one role');
  const databaseUrl = shared.DATABASE_URL;
  const temporalAddress = shared.TEMPORAL_ADDRESS;
  if (!databaseUrl) throw new Error('DATABASE_URL is required (npm start embeds PostgreSQL when it is unset)');
  if (!temporalAddress) throw new Error('TEMPORAL_ADDRESS is required (npm start embeds Temporal when it is unset)');
  const timeouts = { connectMs: shared.DB_CONNECT_TIMEOUT_MS, statementMs: shared.DB_STATEMENT_TIMEOUT_MS };
  // Each role its own pool: no burst of API traffic can starve the workers' checkpoints, nor the reverse.
  // A request that cannot get a connection soon fails (503) rather than piling up behind the others.
  const apiDb = api ? createPool(databaseUrl, api.API_DB_POOL_SIZE, timeouts) : undefined;
  // The worker roles' first statements for a new batch (its head, its first chunks' requests) are on
  // the path to its first request: a few connections stay open for them.
  const workerDb = worker ? createPool(databaseUrl, worker.WORKER_DB_POOL_SIZE, timeouts, WARM_WORKER_CONNECTIONS) : undefined;
  const pools = [apiDb, workerDb].filter((pool) => pool !== undefined);
  await untilDatabaseAvailable(() => migrate(pools[0]!));
  // Before this process's API answers anything that needs them.
  if (config.orchestrator) await untilDatabaseAvailable(() => publishSettings(pools[0]!, config.orchestrator!));
  await untilDatabaseAvailable(() => refuseConflicts(pools[0]!, config.given));

  const namespace = shared.TEMPORAL_NAMESPACE;
  // Registered before any worker runs a workflow that upserts them, whichever process starts first.
  const temporal = await untilTemporalAvailable(() => connectClient(temporalAddress, namespace));
  await untilTemporalAvailable(() => ensureSearchAttributes(temporal.connection, namespace));

  let roles: RunningRoles | undefined;
  const readiness = readinessProbe({ db: pools[0]!, temporal, backends: () => roles?.inference?.backends() });

  // Metrics get a listener of their own without the API, or when METRICS_PORT asks for one; bound
  // first, so a port in use stops the start before any worker polls.
  // Where a local client reaches what listens on HOST: a wildcard address is not one to connect to.
  const reachableHost = shared.HOST === '0.0.0.0' || shared.HOST === '::' ? 'localhost' : shared.HOST;
  const metrics =
    apiDb && shared.METRICS_PORT === undefined
      ? undefined
      : await startMetricsServer(shared.METRICS_PORT ?? DEFAULT_WORKER_METRICS_PORT, shared.HOST, { bearerToken: shared.METRICS_BEARER_TOKEN, readiness });
  if (metrics) logger.info({ metrics: `http://${reachableHost}:${metrics.port}/metrics` }, 'serving metrics');

  let workerConnection: NativeConnection | undefined;
  if (workerDb) {
    await installTemporalRuntime();
    workerConnection = await untilTemporalAvailable(() => NativeConnection.connect({ address: temporalAddress }));
    roles = await startRoles(config, workerDb, workerConnection, temporal);
    if (roles.inference) observeBackends(roles.inference.backends);
  }

  let server: http.Server | undefined;
  let apiUrl: string | undefined;
  if (api && apiDb) {
    if (api.API_KEYS.size + api.OPERATOR_API_KEYS.size === 0 && !(await untilDatabaseAvailable(() => resolveApiKey(apiDb, null))).anyKeys) {
      logger.warn('no API keys (API_KEYS, OPERATOR_API_KEYS or created with `vbs keys create`): the API is open, single-tenant, without authentication');
    }
    // Uploads cut short by a crash are swept by a Schedule the orchestrators run; how long an upload may last is this role's setting.
    await untilTemporalAvailable(() => ensureUploadSweepSchedule(temporal, api.UPLOAD_SWEEP_INTERVAL_SECONDS, api.HTTP_REQUEST_TIMEOUT_MS));
    observeDatabase(apiDb);
    observeTaskQueues(async () => {
      const served = (await listTargetableModels(apiDb)).map((m) => ({ model: m.id, kinds: [...new Set(m.endpoints.map(endpointKind))] }));
      return serviceBacklogs(temporal, namespace, served);
    });
    server = createHttpServer(createApp({ config: api, db: apiDb, temporal, readiness }), api);
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(api.PORT, api.HOST, resolve);
    });
    apiUrl = `http://${reachableHost}:${(server.address() as { port: number }).port}/v1`;
  }

  return {
    apiUrl,
    async stop() {
      if (server) {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await closed;
      }
      await roles?.shutdown();
      await metrics?.close();
      await workerConnection?.close();
      await temporal.connection.close();
      await Promise.all(pools.map((pool) => pool.end()));
    },
  };
}

let runtimeInstalled = false;
/**
 * The SDK's own logs (warnings and worse, so ours stay readable) and its worker metrics (task
 * slots, pollers, schedule-to-start latencies), which /metrics passes on beside ours.
 */
async function installTemporalRuntime(): Promise<void> {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const bindAddress = await reserveTemporalCoreMetricsAddress();
  Runtime.install({
    logger: sdkLogger('WARN'),
    telemetryOptions: { metrics: { prometheus: { bindAddress, countersTotalSuffix: true, unitSuffix: true, useSecondsForDurations: true } } },
  });
}
