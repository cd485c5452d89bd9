import { loadServiceConfig, loadSettings } from '../config';
import { logger } from '../logger';
import { runUntilSignalled } from './lifecycle';
import { startService } from './service';

/** `npm run worker`: the worker roles in WORKER_ROLES (orchestrator, inference; default both), no API. */
runUntilSignalled(async () => {
  const roles = loadSettings(['worker']).WORKER_ROLES;
  const service = await startService(loadServiceConfig(roles));
  logger.info({ roles }, 'worker ready');
  return service.stop;
});
