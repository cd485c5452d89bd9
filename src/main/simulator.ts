import { z } from 'zod';
import { ConfigError, envInt, envLogLevel, parseEnv } from '../config/env';
import { logger } from '../logger';
import { loadSimulatorOptions } from '../simulator/config';
import { startSimulator } from '../simulator/server';

const listenSchema = z.object({
  SIMULATOR_PORT: envInt(8000),
  SIMULATOR_HOST: z.string().default('0.0.0.0'),
  LOG_LEVEL: envLogLevel,
});

async function main(): Promise<void> {
  const options = loadSimulatorOptions(process.env);
  const listen = parseEnv(listenSchema, process.env);
  logger.level = listen.LOG_LEVEL;
  const log = logger.child({ component: 'simulator' });
  const simulator = await startSimulator(options, listen.SIMULATOR_PORT, listen.SIMULATOR_HOST);
  log.info({ baseUrl: simulator.baseUrl, models: options.models, capacity: options.capacity, faults: options.faults }, 'vLLM simulator listening');

  const shutdown = (signal: NodeJS.Signals) => {
    log.info({ signal }, 'vLLM simulator shutting down');
    simulator.close().catch((err: unknown) => {
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
