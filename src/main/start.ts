import { loadEmbeddedConfig } from '../config';
import { logger } from '../logger';
import { startEmbeddedDependencies } from './embedded';
import { runUntilSignalled } from './lifecycle';
import { startService } from './service';

/** `npm start`: the API and both worker roles in one process, plus every dependency left unconfigured. */
runUntilSignalled(async () => {
  const { start, service: config } = loadEmbeddedConfig();
  const embedded = await startEmbeddedDependencies(start, config);
  try {
    const service = await startService(embedded.config);
    const lines = [`API:         ${service.apiUrl}`];
    if (embedded.temporalUiUrl) lines.push(`Temporal UI: ${embedded.temporalUiUrl}`);
    logger.info({ api: service.apiUrl, temporal_ui: embedded.temporalUiUrl }, 'vLLM Batch Server ready');
    process.stdout.write(`\nvLLM Batch Server is ready\n  ${lines.join('\n  ')}\n\n`);
    return async () => {
      await service.stop();
      await embedded.stop();
    };
  } catch (err) {
    await embedded.stop();
    throw err;
  }
});
