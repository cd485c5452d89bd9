import { spawn } from 'node:child_process';
import { once } from 'node:events';
import readline from 'node:readline';
import { built } from './repo';

export type PostgresProcess = { url: string; stop(): Promise<void> };

/**
 * A PostgreSQL cluster of the test's own, in `dataDir`, started by the service's own embedded launcher
 * (built, in a Node process of its own: its binaries package is ESM, which Jest's module loader cannot
 * import). Started again on the same `dataDir` and port, it is the same database, as after a restart.
 */
export async function startPostgresProcess(dataDir: string, port: number): Promise<PostgresProcess> {
  const script = `
    const { startEmbeddedPostgres } = require(${JSON.stringify(built('infra/embeddedPostgres.js'))});
    startEmbeddedPostgres(process.argv[1], Number(process.argv[2])).then((pg) => {
      console.log(pg.url);
      process.once('SIGTERM', () => pg.stop().then(() => process.exit(0)));
    }, (err) => { console.error(err); process.exit(1); });`;
  const child = spawn(process.execPath, ['-e', script, dataDir, String(port)], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, LOG_LEVEL: 'warn' } });
  const exited = once(child, 'exit');
  const lines = readline.createInterface({ input: child.stdout });
  const url = await Promise.race([
    // Its log lines come first (JSON); the URL is the line that is one.
    new Promise<string>((resolve) => lines.on('line', (line) => line.startsWith('postgres://') && resolve(line))),
    exited.then(([code]) => Promise.reject(new Error(`embedded PostgreSQL launcher exited with code ${String(code)}`))),
  ]);
  return {
    url,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await exited;
    },
  };
}
