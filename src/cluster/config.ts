import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { parseSettings, setting, type Parsed } from '../config/declare';
import { envInt, envLogLevel, optionalString } from '../config/env';

/** The repository's root, from dist/cluster/ (built) or src/cluster/ (tests): where .tools/ and dist/ are. */
const REPO_ROOT = path.resolve(__dirname, '../..');

/**
 * The settings of `npm run cluster` (README: Production topology, whose table is written from here),
 * a program apart from the service: its PORT and DATA_DIR are its own, and every other setting of the
 * service in its environment reaches every process it starts.
 */
export const CLUSTER_SETTINGS = {
  PORT: setting(['cluster'], envInt(4080, 1), "the load balancer's port: the API's address for clients, as compose publishes 4080"),
  DATA_DIR: setting(
    ['cluster'],
    z
      .string()
      .default('./data/cluster')
      .transform((dir) => path.resolve(dir)),
    'everything of the cluster: the data of PostgreSQL and Temporal, a log file and a pid file per process',
    { defaultDoc: '`./data/cluster`' },
  ),
  // Every other port of the cluster is this plus a fixed offset (ports.ts), so two clusters (or a
  // cluster and `npm start`) on one machine need only different bases.
  CLUSTER_PORT_BASE: setting(
    ['cluster'],
    envInt(14000, 1024).pipe(z.number().max(65_535 - 64)),
    'every other port is an offset from it, fixed so that a restarted process comes back where its clients look',
  ),
  TEMPORAL_NAMESPACE: setting(['cluster'], z.string().default('default'), 'the namespace it registers, and every process uses'),
  TEMPORAL_NAMESPACE_RETENTION_HOURS: setting(['cluster'], envInt(168, 1), 'how long the namespace keeps closed workflows'),
  TEMPORAL_SERVER_DIR: setting(
    ['cluster'],
    optionalString.transform((dir) => path.resolve(dir ?? path.join(REPO_ROOT, '.tools/temporal-server'))),
    'what `scripts/ensure-temporal-server.sh` installs: `bin/temporal-server`, `bin/temporal-sql-tool`, `schema/`',
    { defaultDoc: '`.tools/temporal-server`' },
  ),
  HAPROXY_PATH: setting(['cluster'], z.string().default('haproxy'), 'the load balancer'),
  LOG_LEVEL: setting(['cluster'], envLogLevel, "the supervisor's, and every Node process's of the cluster"),
};

type ClusterSettings = Parsed<typeof CLUSTER_SETTINGS, keyof typeof CLUSTER_SETTINGS>;

export type ClusterConfig = ClusterSettings &
  Readonly<{
    /** Built entry points (dist/main/*.js) and the heap cap the npm scripts give them. */
    node: { distDir: string; heapMb: number };
  }>;

/** Parsed once, at start-up of `npm run cluster` (any subcommand: status and down find the cluster by DATA_DIR). */
export function loadClusterConfig(env: NodeJS.ProcessEnv = process.env): ClusterConfig {
  const settings = parseSettings(CLUSTER_SETTINGS, Object.keys(CLUSTER_SETTINGS) as (keyof ClusterSettings)[], env);
  return { ...settings, node: { distDir: path.join(REPO_ROOT, 'dist'), heapMb: heapMb() } };
}

/** package.json's `config.heapMb`, which `npm run api` and `npm run worker` pass as --max-old-space-size. */
function heapMb(): number {
  const manifest = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { config: { heapMb: string } };
  return Number(manifest.config.heapMb);
}
