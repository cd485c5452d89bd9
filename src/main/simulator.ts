import { loadSettings } from '../config';
import { ConfigError } from '../config/env';
import { logger } from '../logger';
import { simulatorOptions } from '../simulator/config';
import { startSimulatorFleet } from '../simulator/server';

async function main(): Promise<void> {
  const settings = loadSettings(['simulator']);
  const options = simulatorOptions(settings);
  const log = logger.child({ component: 'simulator' });
  const fleet = await startSimulatorFleet(options, settings.SIMULATOR_GPUS, settings.SIMULATOR_PORT, settings.SIMULATOR_HOST);
  const baseUrls = fleet.gpus.map((gpu) => gpu.baseUrl);
  log.info(
    {
      baseUrl: baseUrls[0],
      ...(baseUrls.length > 1 ? { gpus: baseUrls.length, baseUrls } : {}),
      models: options.models,
      capacity: options.capacity,
      faults: options.faults,
    },
    'vLLM simulator listening',
  );

  const shutdown = (signal: NodeJS.Signals) => {
    log.info({ signal }, 'vLLM simulator shutting down');
    fleet.close().catch((err: unknown) => {
      log.error({ err }, 'vLLM simulator did not close cleanly');
      process.exitCode = 1;
    });
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) console.error(err.message);
  else logger.fatal({ err }, 'vLLM simulator failed to start');
  process.exit(1);
});
