import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { envInt, envLogLevel, optionalString, parseEnv } from '../config/env';

/** The repository's root, from dist/cluster/ (built) or src/cluster/ (tests): where .tools/ and dist/ are. */
const REPO_ROOT = path.resolve(__dirname, '../..');

const schema = z.object({
  PORT: envInt(4080, 1),
  DATA_DIR: z.string().default('./data/cluster'),
  // Every other port of the cluster is this plus a fixed offset (ports.ts), so two clusters (or a
  // cluster and `npm start`) on one machine need only different bases.
  CLUSTER_PORT_BASE: envInt(14000, 1024).pipe(z.number().max(65_535 - 64)),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_NAMESPACE_RETENTION_HOURS: envInt(168, 1),
  TEMPORAL_SERVER_DIR: optionalString,
  HAPROXY_PATH: z.string().default('haproxy'),
  LOG_LEVEL: envLogLevel,
});

export type ClusterConfig = Readonly<{
  /** The load balancer's port: the API's address for clients, as compose publishes 4080. */
  port: number;
  dataDir: string;
  portBase: number;
  temporal: {
    namespace: string;
    retentionSeconds: number;
    /** What scripts/ensure-temporal-server.sh installs: bin/temporal-server, bin/temporal-sql-tool, schema/. */
    serverDir: string;
  };
  haproxyPath: string;
  /** The LOG_LEVEL of every Node process of the cluster, the supervisor's included. */
  logLevel: string;
  /** Built entry points (dist/main/*.js) and the heap cap the npm scripts give them. */
  node: { distDir: string; heapMb: number };
}>;

/** Parsed once, at start-up of `npm run cluster` (any subcommand: status and down find the cluster by DATA_DIR). */
export function loadClusterConfig(env: NodeJS.ProcessEnv = process.env): ClusterConfig {
  const e = parseEnv(schema, env);
  return {
    port: e.PORT,
    dataDir: path.resolve(e.DATA_DIR),
    portBase: e.CLUSTER_PORT_BASE,
    temporal: {
      namespace: e.TEMPORAL_NAMESPACE,
      retentionSeconds: e.TEMPORAL_NAMESPACE_RETENTION_HOURS * 3600,
      serverDir: path.resolve(e.TEMPORAL_SERVER_DIR ?? path.join(REPO_ROOT, '.tools/temporal-server')),
    },
    haproxyPath: e.HAPROXY_PATH,
    logLevel: e.LOG_LEVEL,
    node: { distDir: path.join(REPO_ROOT, 'dist'), heapMb: heapMb() },
  };
}

/** package.json's `config.heapMb`, which `npm run api` and `npm run worker` pass as --max-old-space-size. */
function heapMb(): number {
  const manifest = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { config: { heapMb: string } };
  return Number(manifest.config.heapMb);
}
