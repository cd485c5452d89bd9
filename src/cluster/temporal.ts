import fs from 'node:fs';
import path from 'node:path';
import type { ClusterConfig } from './config';
import { clusterPorts } from './ports';
import { DATABASES, type PostgresServer } from './postgres';
import { tcpOpen } from './probes';
import type { Job, ProcessSpec } from './topology';

/**
 * The task queue priority and fairness the batch service relies on, as docker-compose.yml's
 * deploy/temporal/dynamicconfig/vbs.yaml and the dev server of `npm start` (src/temporal/devServer.ts)
 * set them: opt-in on a self-hosted server; one partition, since chunks are few per second. Without
 * their `matching.enableMigration`, which server 1.32 no longer has (it warns about the unknown key).
 */
const DYNAMIC_CONFIG: Record<string, boolean | number> = {
  'matching.useNewMatcher': true,
  'matching.enableFairness': true,
  'matching.numTaskqueueReadPartitions': 1,
  'matching.numTaskqueueWritePartitions': 1,
  'system.enableDeploymentVersions': true,
  'frontend.workerVersioningWorkflowAPIs': true,
};

/** Fixed when the cluster is first created, as compose's NUM_HISTORY_SHARDS: changing it needs a new database. */
const HISTORY_SHARDS = 4;

/**
 * Compose's `temporal-schema`, the supported way: the server release's own temporal-sql-tool and the
 * schema files of the same release. Idempotent: setup-schema only records version 0.0 on an empty
 * database, update-schema applies only the versions not yet applied (deploy/temporal/setup-schema.sh).
 */
export function temporalSchemaJobs(config: ClusterConfig, postgres: PostgresServer): Job[] {
  const tool = path.join(config.TEMPORAL_SERVER_DIR, 'bin/temporal-sql-tool');
  const schemaDir = path.join(config.TEMPORAL_SERVER_DIR, 'schema/postgresql/v12');
  // The credentials in the environment, not on a command line that `ps` shows.
  const env = { SQL_PLUGIN: 'postgres12', SQL_HOST: '127.0.0.1', SQL_PORT: String(postgres.port), SQL_USER: postgres.user, SQL_PASSWORD: postgres.password };
  return [
    [DATABASES.temporal, 'temporal'],
    [DATABASES.temporalVisibility, 'visibility'],
  ].flatMap(([database, schema]) => [
    { name: 'temporal-schema', command: tool, args: ['--db', database!, 'setup-schema', '-v', '0.0'], env },
    { name: 'temporal-schema', command: tool, args: ['--db', database!, 'update-schema', '-d', path.join(schemaDir, schema!, 'versioned')], env },
  ]);
}

/**
 * Compose's `temporal`: one Temporal server process running the frontend, history, matching and worker
 * services on PostgreSQL persistence, its configuration written under DATA_DIR/temporal. JSON is YAML,
 * so the server reads the generated file as it reads its own config/*.yaml.
 */
export function temporalServer(config: ClusterConfig, postgres: PostgresServer): { spec: ProcessSpec; address: string } {
  const ports = clusterPorts(config.CLUSTER_PORT_BASE).temporal;
  const dir = path.join(config.DATA_DIR, 'temporal');
  fs.mkdirSync(dir, { recursive: true });
  const dynamicConfigFile = path.join(dir, 'dynamicconfig.yaml');
  const dynamicConfig = Object.fromEntries(Object.entries(DYNAMIC_CONFIG).map(([key, value]) => [key, [{ value, constraints: {} }]]));
  fs.writeFileSync(dynamicConfigFile, JSON.stringify(dynamicConfig, null, 2) + '\n');

  const store = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `127.0.0.1:${postgres.port}`,
      connectProtocol: 'tcp',
      user: postgres.user,
      password: postgres.password,
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const service = (rpc: { grpc: number; membership: number }, extra: Record<string, number> = {}) => ({
    rpc: { grpcPort: rpc.grpc, membershipPort: rpc.membership, bindOnLocalHost: true, ...extra },
  });
  const serverConfig = {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'default',
      visibilityStore: 'visibility',
      numHistoryShards: HISTORY_SHARDS,
      datastores: { default: store(DATABASES.temporal, 20), visibility: store(DATABASES.temporalVisibility, 10) },
    },
    global: { membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' } },
    services: {
      frontend: service(ports.frontend, { httpPort: ports.frontendHttp }),
      history: service(ports.history),
      matching: service(ports.matching),
      worker: service(ports.worker),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: { active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: `127.0.0.1:${ports.frontend.grpc}` } },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    dynamicConfigClient: { filepath: dynamicConfigFile, pollInterval: '10s' },
  };
  const configFile = path.join(dir, 'config.yaml');
  // Holds the database password: readable by its owner only.
  fs.writeFileSync(configFile, JSON.stringify(serverConfig, null, 2) + '\n', { mode: 0o600 });
  fs.chmodSync(configFile, 0o600);

  const command = path.join(config.TEMPORAL_SERVER_DIR, 'bin/temporal-server');
  return {
    spec: {
      name: 'temporal',
      role: 'temporal',
      service: 'temporal',
      port: ports.frontend.grpc,
      command,
      // No authorizer, stated (the server warns otherwise): every port is on loopback, as compose's is
      // on its own network.
      args: ['--config-file', configFile, '--allow-no-auth', 'start'],
      env: {},
      stopSignal: 'SIGTERM',
      stopGraceMs: 30_000,
      marker: command,
      ready: () => tcpOpen(ports.frontend.grpc),
    },
    address: `127.0.0.1:${ports.frontend.grpc}`,
  };
}
