import { loadSettings } from '../config';
import { ConfigError } from '../config/env';
import { migrate } from '../db/migrate';
import { createPool } from '../db/pool';
import { logger } from '../logger';

/**
 * `node dist/main/migrate.js`: applies the pending migrations to DATABASE_URL and exits, a one-shot
 * job run before a deployment's processes start (docker-compose.yml's `migrate`). The API and the
 * workers still migrate when they start (a no-op then); this only takes the wait out of their start-up.
 */
async function main(): Promise<void> {
  const config = loadSettings(['tools']);
  if (!config.DATABASE_URL) throw new ConfigError('DATABASE_URL is required');
  const db = createPool(config.DATABASE_URL, 1, { connectMs: config.DB_CONNECT_TIMEOUT_MS, statementMs: config.DB_STATEMENT_TIMEOUT_MS });
  try {
    await migrate(db);
    logger.info('database schema is up to date');
  } finally {
    await db.end();
  }
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) console.error(err.message);
  else logger.fatal({ err }, 'migration failed');
  process.exit(1);
});
