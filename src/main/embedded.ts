import type { Config } from '../config';
import { startEmbeddedPostgres } from '../infra/embeddedPostgres';
import { logger } from '../logger';
import { loadSimulatorOptions } from '../simulator/config';
import { startSimulator } from '../simulator/server';
import { backendTarget } from '../inference/target';
import { credentialsIn, registerSecrets } from '../secrets';
import { findTemporalCli, startDevServer } from '../temporal/devServer';

export type EmbeddedDependencies = {
  /** The configuration with the embedded services' addresses filled in. */
  config: Config;
  temporalUiUrl: string | undefined;
  stop(): Promise<void>;
};

/**
 * Starts whatever the configuration leaves unset: PostgreSQL (DATABASE_URL), a Temporal dev server
 * (TEMPORAL_ADDRESS), the vLLM simulator (VLLM_BASE_URL). `stop` stops them in reverse order.
 */
export async function startEmbeddedDependencies(config: Config): Promise<EmbeddedDependencies> {
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const stopOne of stops.reverse()) await stopOne().catch((err: unknown) => logger.warn({ err }, 'stop failed'));
  };
  try {
    let { databaseUrl, temporal, vllm } = config;
    let temporalUiUrl: string | undefined;

    if (!databaseUrl) {
      const postgres = await startEmbeddedPostgres(config.dataDir, config.embeddedPostgresPort);
      stops.push(postgres.stop);
      databaseUrl = postgres.url;
      registerSecrets(credentialsIn(postgres.url));
      logger.info({ port: config.embeddedPostgresPort }, 'embedded PostgreSQL running (DATABASE_URL unset)');
    }
    if (!temporal.address) {
      const server = await startDevServer({
        cliPath: findTemporalCli(temporal.cliPath),
        dataDir: config.dataDir,
        port: temporal.devPort,
        uiPort: temporal.uiPort,
        namespace: temporal.namespace,
      });
      stops.push(server.stop);
      temporal = { ...temporal, address: server.address };
      temporalUiUrl = server.uiUrl;
      logger.info({ address: server.address }, 'Temporal dev server running (TEMPORAL_ADDRESS unset)');
    }
    if (vllm.backends.length === 0) {
      const simulator = await startSimulator(loadSimulatorOptions(process.env), config.simulatorPort);
      stops.push(simulator.close);
      vllm = { ...vllm, backends: [backendTarget(simulator.baseUrl, undefined)] };
      logger.warn(
        { baseUrl: simulator.baseUrl },
        'VLLM_BASE_URL is unset: requests go to the built-in vLLM SIMULATOR, not a real model. Set VLLM_BASE_URL=http://<host>:8000/v1 for real inference.',
      );
    }
    return { config: { ...config, databaseUrl, temporal, vllm }, temporalUiUrl, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
