import path from 'node:path';
import type { ClusterConfig } from './config';
import type { ProcessSpec } from './topology';

/** Where our processes find PostgreSQL and Temporal (compose's `x-app-env`), and what else a soak sets for all of them. */
export type AppEndpoints = Readonly<{ databaseUrl: string; temporalAddress: string; extraEnv: Readonly<Record<string, string>> }>;

export function appEnv(config: ClusterConfig, endpoints: AppEndpoints): Record<string, string> {
  return {
    DATABASE_URL: endpoints.databaseUrl,
    TEMPORAL_ADDRESS: endpoints.temporalAddress,
    TEMPORAL_NAMESPACE: config.TEMPORAL_NAMESPACE,
    LOG_LEVEL: config.LOG_LEVEL,
    ...endpoints.extraEnv,
  };
}

/** A built entry point (dist/main/<entry>.js) run as the npm scripts run it: with the heap cap. */
export function nodeProcess(
  config: ClusterConfig,
  entry: 'api' | 'worker' | 'simulator',
  spec: Pick<ProcessSpec, 'name' | 'role' | 'service' | 'port' | 'env' | 'ready'>,
): ProcessSpec {
  const script = path.join(config.node.distDir, 'main', `${entry}.js`);
  return {
    ...spec,
    command: process.execPath,
    args: [`--max-old-space-size=${config.node.heapMb}`, script],
    stopSignal: 'SIGTERM',
    stopGraceMs: 45_000,
    marker: script,
  };
}
