import http from 'node:http';
import { NativeConnection, Runtime } from '@temporalio/worker';
import { createApp } from '../api/app';
import type { Config } from '../config';
import { migrate } from '../db/migrate';
import { createPool } from '../db/pool';
import { logger } from '../logger';
import { resolveApiKey } from '../store/apiKeys';
import { connectClient } from '../temporal/client';
import { ensureSearchAttributes } from '../temporal/registerSearchAttributes';
import { sdkLogger } from '../temporal/sdkLogger';
import { startWorkers, type RunningWorkers } from '../worker';

export type RunningService = { apiUrl: string | undefined; stop(): Promise<void> };

/**
 * Starts this process's parts against a Postgres and a Temporal that already run: migrations,
 * then the worker roles, then the API (last, so it never accepts work nothing can run).
 */
export async function startService(config: Config, parts: { api: boolean; workers: boolean }): Promise<RunningService> {
  if (!config.databaseUrl) throw new Error('DATABASE_URL is required (npm start embeds PostgreSQL when it is unset)');
  if (!config.temporal.address) throw new Error('TEMPORAL_ADDRESS is required (npm start embeds Temporal when it is unset)');
  const db = createPool(config.databaseUrl, 20);
  await migrate(db);

  // Registered before any worker runs a workflow that upserts them, whichever process starts first.
  const temporal = await connectClient(config.temporal.address, config.temporal.namespace);
  await ensureSearchAttributes(temporal.connection, config.temporal.namespace);

  let workers: RunningWorkers | undefined;
  let workerConnection: NativeConnection | undefined;
  if (parts.workers) {
    installTemporalRuntime();
    workerConnection = await NativeConnection.connect({ address: config.temporal.address });
    workers = await startWorkers(config, db, workerConnection);
  }

  let server: http.Server | undefined;
  let apiUrl: string | undefined;
  if (parts.api) {
    if (config.apiKeys.size === 0 && !(await resolveApiKey(db, null)).anyKeys) {
      logger.warn('no API keys (API_KEYS or created with `npm run keys`): the API is open, single-tenant, without authentication');
    }
    server = http.createServer(createApp({ config, db, temporal }));
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(config.port, config.host, resolve);
    });
    const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
    apiUrl = `http://${host}:${(server.address() as { port: number }).port}/v1`;
  }

  return {
    apiUrl,
    async stop() {
      if (server) {
        const closed = new Promise<void>((resolve) => server!.close(() => resolve()));
        server.closeIdleConnections();
        await closed;
      }
      await workers?.shutdown();
      await workerConnection?.close();
      await temporal.connection.close();
      await db.end();
    },
  };
}

let runtimeInstalled = false;
/** The SDK's own logs: warnings and worse, so ours stay readable. */
function installTemporalRuntime(): void {
  if (runtimeInstalled) return;
  Runtime.install({ logger: sdkLogger('WARN') });
  runtimeInstalled = true;
}
