import { Command, InvalidArgumentError } from 'commander';
import { loadClusterConfig } from '../cluster/config';
import { ConfigError } from '../config/env';
import { logger } from '../logger';
import { markdownReport, writeReportFiles } from '../soak/reportOutput';
import { runSoak } from '../soak/run';

/**
 * `npm run soak -- --minutes M --seed S`: a randomized fault campaign against the production
 * topology (README: Fault campaign). Exits 0 only when every invariant held; a failing run prints
 * its seed and first violation, and the same seed replays the same faults.
 */
const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a whole number');
  return n;
};

const program = new Command('soak')
  .description('run the cluster under a workload of several tenants while a nemesis injects faults, then check every record')
  .option('--minutes <m>', 'how long the workload and the faults run (then a bounded settle)', Number, 30)
  .option('--seed <s>', 'the schedule of faults and the workload draws: the same seed replays the same faults (default: random)', positiveInt)
  .option('--report <file>', 'write the JSON report here')
  .option('--plot <file>', 'write the PNG plot of throughput and faults here (default: next to the report, else under DATA_DIR)')
  .addHelpText(
    'after',
    '\nEnvironment: DATA_DIR (./data/soak, wiped at start), PORT (4090), CLUSTER_PORT_BASE (15000), LOG_LEVEL (info: this process and every process of the cluster).',
  );

program.parse();
const options = program.opts<{ minutes: number; seed?: number; report?: string; plot?: string }>();

async function main(): Promise<number> {
  if (!(options.minutes > 0)) throw new ConfigError('--minutes must be a positive number');
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  // A soak has its own DATA_DIR and ports, so that it never meets a cluster or an `npm start` of the same machine.
  const cluster = loadClusterConfig({
    ...process.env,
    DATA_DIR: process.env.DATA_DIR ?? './data/soak',
    PORT: process.env.PORT ?? '4090',
    CLUSTER_PORT_BASE: process.env.CLUSTER_PORT_BASE ?? '15000',
  });
  process.stdout.write(`soak: seed ${seed}, ${options.minutes} min, DATA_DIR ${cluster.DATA_DIR}\n`);
  const report = await runSoak({ minutes: options.minutes, seed, cluster });
  const plot = options.plot ?? (options.report ? options.report.replace(/\.json$/, '') + '.png' : `${cluster.DATA_DIR}/soak-${seed}.png`);
  await writeReportFiles(report, { json: options.report, png: plot });
  process.stdout.write(`\n${markdownReport(report)}\nplot: ${plot}\n`);
  if (!report.passed) {
    const first = report.violations[0]!;
    process.stdout.write(`\nSOAK FAILED (seed ${seed}): ${report.violations.length} violations; first: [${first.invariant}] ${first.record}: ${first.detail}\n`);
    process.stdout.write(`replay: npm run soak -- --minutes ${options.minutes} --seed ${seed}\n`);
    return 1;
  }
  return 0;
}

main()
  .then((code) => process.exit(code))
  .catch((err: unknown) => {
    if (err instanceof ConfigError) console.error(err.message);
    else logger.fatal({ err }, 'soak failed to run');
    process.exit(2);
  });
