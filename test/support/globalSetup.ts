import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres } from '../../src/infra/embeddedPostgres';
import { defaultSimulatorOptions } from '../../src/simulator/config';
import { startSimulator } from '../../src/simulator/server';
import { DevServerExitedError, findTemporalCli, startDevServer, type RunningDevServer } from '../../src/temporal/devServer';
import { freePort } from './ports';
import { publishStack } from './stack';

declare global {
  // `var`, not `let`: only a `var` in `declare global` types a property of globalThis.
  var __testStackStops: Array<() => Promise<void>> | undefined;
}

export default async function globalSetup(): Promise<void> {
  const stops: Array<() => Promise<void>> = [];
  globalThis.__testStackStops = stops;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vllm-batch-test-'));
  stops.push(async () => fs.rmSync(dataDir, { recursive: true, force: true }));

  // Jest skips globalTeardown when globalSetup throws: stop whatever did start before rethrowing.
  try {
    let databaseUrl = process.env.DATABASE_URL;
    if (!databaseUrl) {
      const postgres = await startEmbeddedPostgres(dataDir, await freePort());
      stops.push(postgres.stop);
      databaseUrl = postgres.url;
    }

    let temporalAddress = process.env.TEMPORAL_ADDRESS;
    let temporalUiUrl: string | undefined;
    if (!temporalAddress) {
      const server = await startDevServerOnFreePorts(findTemporalCli(process.env.TEMPORAL_CLI_PATH), dataDir);
      stops.push(server.stop);
      temporalAddress = server.address;
      temporalUiUrl = server.uiUrl;
    }

    const simulator = await startSimulator(defaultSimulatorOptions({ capacity: 64 }));
    stops.push(simulator.close);

    publishStack({ temporalAddress, temporalUiUrl, databaseUrl, simulatorUrl: simulator.baseUrl });
  } catch (err) {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    throw err;
  }
}

/**
 * A free port is only free until someone else binds it: the server and the processes starting beside
 * it pick ports at the same time. A server that exits while starting is tried again on other ports.
 */
async function startDevServerOnFreePorts(cliPath: string, dataDir: string): Promise<RunningDevServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startDevServer({ cliPath, dataDir, port: await freePort(), uiPort: await freePort(), namespace: 'default' });
    } catch (err) {
      if (!(err instanceof DevServerExitedError) || attempt >= 3) throw err;
      console.warn(`${err.message}; trying other ports`);
    }
  }
}
