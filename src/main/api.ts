import { loadServiceConfig } from '../config';
import { logger } from '../logger';
import { runUntilSignalled } from './lifecycle';
import { startService } from './service';

/** `npm run api`: the HTTP API alone, against an external Temporal and Postgres. */
runUntilSignalled(async () => {
  const service = await startService(loadServiceConfig(['api']));
  logger.info({ api: service.apiUrl }, 'API ready');
  return service.stop;
});
