import { ConfigError } from '../config/env';
import { logger } from '../logger';

/**
 * Runs `start`, then stops what it started on the first SIGINT/SIGTERM (waiting for start-up to
 * finish if the signal comes early). A second signal exits at once, for an operator who will not wait.
 */
export function runUntilSignalled(start: () => Promise<() => Promise<void>>): void {
  const started = start();
  started.catch((err: unknown) => {
    // Configuration problems are the user's to fix: one clear line, no stack.
    if (err instanceof ConfigError) console.error(err.message);
    else logger.fatal({ err }, 'failed to start');
    process.exit(1);
  });

  let stopping = false;
  const shutDown = (exitCode: number) => {
    stopping = true;
    started
      .then((stop) => stop())
      .then(
        () => {
          logger.info('stopped cleanly');
          process.exit(exitCode);
        },
        (err: unknown) => {
          logger.error({ err }, 'error while shutting down');
          process.exit(1);
        },
      );
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(130);
    }
    logger.info({ signal }, 'shutting down');
    shutDown(0);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Last resort for a bug no handler caught: the process state is unknown, so it stops — but cleanly,
  // so an embedded PostgreSQL or Temporal dev server is not left running without its owner.
  const onBug = (err: unknown) => {
    logger.fatal({ err }, 'uncaught error: stopping');
    if (stopping) process.exit(1);
    shutDown(1);
  };
  process.on('uncaughtException', onBug);
  process.on('unhandledRejection', onBug);
}
