import { Command } from 'commander';
import { loadClusterConfig } from '../cluster/config';
import { clusterPaths, clusterStatus, stopCluster, type ClusterStatus } from '../cluster/state';
import { startCluster } from '../cluster/up';
import { ConfigError } from '../config/env';
import { logger } from '../logger';
import { runUntilSignalled } from './lifecycle';

/**
 * `npm run cluster`: the production topology of docker-compose.yml as processes on this machine
 * (README: Production topology). `up` (the default) runs it in the foreground until Ctrl-C;
 * `status` and `down` act on the cluster of DATA_DIR from any shell.
 */
function buildProgram(): Command {
  const program = new Command('cluster').description(
    'docker-compose.yml as processes on this machine: PostgreSQL, a Temporal server, API replicas behind haproxy, orchestrators, GPU workers and their backends',
  );
  program
    .command('up', { isDefault: true })
    .description('start every process and supervise it (restarted when it exits) until Ctrl-C, which stops them all')
    .action(() => {
      const config = loadClusterConfig();
      runUntilSignalled(async () => {
        const cluster = await startCluster(config);
        process.stdout.write(
          `\nCluster ready: ${cluster.processes.length} processes, API at ${cluster.url}/v1, Temporal UI at ${cluster.temporalUiUrl} (logs under ${config.DATA_DIR}/logs)\n\n`,
        );
        return cluster.stop;
      });
    });
  program
    .command('status')
    .description('every process of the cluster: role, compose service, pid, port, alive')
    .option('--json', 'as JSON on stdout', false)
    .action(async (options: { json: boolean }) => {
      const status = await clusterStatus(clusterPaths(loadClusterConfig().DATA_DIR));
      if (!status) throw new ConfigError('no cluster has run on this DATA_DIR');
      process.stdout.write(options.json ? JSON.stringify(status, null, 2) + '\n' : table(status));
    });
  program
    .command('down')
    .description('stop every process of the cluster (also those of a supervisor that was killed)')
    .action(async () => {
      const leftovers = await stopCluster(clusterPaths(loadClusterConfig().DATA_DIR));
      process.stdout.write(`cluster stopped${leftovers.length > 0 ? ` (left behind by a killed supervisor: ${leftovers.join(', ')})` : ''}\n`);
    });
  return program;
}

function table(status: ClusterStatus): string {
  const rows = [
    ['NAME', 'ROLE', 'SERVICE', 'PID', 'PORT', 'ALIVE'],
    ...status.processes.map((p) => [p.name, p.role, p.service, String(p.pid ?? '-'), String(p.port), p.alive ? 'yes' : 'NO']),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const lines = rows.map((row) =>
    row
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join('  ')
      .trimEnd(),
  );
  const supervisor = `supervisor pid ${status.supervisor.pid} ${status.supervisor.alive ? 'alive' : 'NOT RUNNING'}, ${status.ready ? 'ready' : 'not ready'}, API at ${status.url}/v1, Temporal UI at ${status.temporalUiUrl}`;
  return `${supervisor}\n${lines.join('\n')}\n`;
}

buildProgram()
  .parseAsync()
  .catch((err: unknown) => {
    if (err instanceof ConfigError) console.error(err.message);
    else logger.fatal({ err }, 'cluster command failed');
    process.exit(1);
  });
