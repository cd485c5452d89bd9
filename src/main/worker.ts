import { loadConfig } from '../config';
import { logger } from '../logger';
import { runUntilSignalled } from './lifecycle';
import { startService } from './service';

/** `npm run worker`: the worker roles in WORKER_ROLES (orchestrator, inference; default both), no API. */
runUntilSignalled(async () => {
  const config = loadConfig();
  const service = await startService(config, { api: false, workers: true });
  logger.info({ roles: config.workerRoles }, 'worker ready');
  return service.stop;
});
