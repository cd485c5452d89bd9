import path from 'node:path';
import type { ServiceConfig, Settings } from '../config';
import { startEmbeddedPostgres } from '../infra/embeddedPostgres';
import { logger } from '../logger';
import { simulatorOptions } from '../simulator/config';
import { startSimulator } from '../simulator/server';
import { credentialsIn, registerSecrets } from '../secrets';
import { findTemporalCli, startDevServer } from '../temporal/devServer';

export type EmbeddedDependencies = {
  /** The service's configuration with the embedded services' addresses filled in. */
  config: ServiceConfig;
  temporalUiUrl: string | undefined;
  stop(): Promise<void>;
};

/**
 * Starts whatever the configuration leaves unset: PostgreSQL (DATABASE_URL), a Temporal dev server
 * (TEMPORAL_ADDRESS), the vLLM simulator (VLLM_BASE_URL). `stop` stops them in reverse order.
 */
export async function startEmbeddedDependencies(start: Settings<'start'>, service: ServiceConfig): Promise<EmbeddedDependencies> {
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const stopOne of stops.reverse()) await stopOne().catch((err: unknown) => logger.warn({ err }, 'stop failed'));
  };
  try {
    let { DATABASE_URL, TEMPORAL_ADDRESS, VLLM_BASE_URL } = start;
    const dataDir = path.resolve(start.DATA_DIR);
    let temporalUiUrl: string | undefined;

    if (!DATABASE_URL) {
      const postgres = await startEmbeddedPostgres(dataDir, start.EMBEDDED_POSTGRES_PORT);
      stops.push(postgres.stop);
      DATABASE_URL = postgres.url;
      registerSecrets(credentialsIn(postgres.url));
      logger.info({ port: start.EMBEDDED_POSTGRES_PORT }, 'embedded PostgreSQL running (DATABASE_URL unset)');
    }
    if (!TEMPORAL_ADDRESS) {
      const server = await startDevServer({
        cliPath: findTemporalCli(start.TEMPORAL_CLI_PATH),
        dataDir,
        port: start.TEMPORAL_DEV_PORT,
        uiPort: start.TEMPORAL_UI_PORT,
        namespace: start.TEMPORAL_NAMESPACE,
      });
      stops.push(server.stop);
      TEMPORAL_ADDRESS = server.address;
      temporalUiUrl = server.uiUrl;
      logger.info({ address: server.address }, 'Temporal dev server running (TEMPORAL_ADDRESS unset)');
    }
    if (VLLM_BASE_URL.length === 0) {
      // Reached by this process only: on loopback, whatever SIMULATOR_HOST says for `npm run simulator`.
      const simulator = await startSimulator(simulatorOptions(start), start.SIMULATOR_PORT);
      stops.push(simulator.close);
      VLLM_BASE_URL = [{ url: simulator.baseUrl, name: undefined }];
      logger.warn(
        { baseUrl: simulator.baseUrl },
        'VLLM_BASE_URL is unset: requests go to the built-in vLLM SIMULATOR, not a real model. Set VLLM_BASE_URL=http://<host>:8000/v1 for real inference.',
      );
    }
    const addresses = { DATABASE_URL, TEMPORAL_ADDRESS };
    const config = {
      ...service,
      api: service.api && { ...service.api, ...addresses },
      orchestrator: service.orchestrator && { ...service.orchestrator, ...addresses },
      inference: service.inference && { ...service.inference, ...addresses, VLLM_BASE_URL },
    };
    return { config, temporalUiUrl, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
