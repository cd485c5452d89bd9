import { ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import { logger } from './logger';

/**
 * Failures that pass by themselves (a database failing over, a server that has not yet seen a
 * poller, a dependency restarting), waited out by trying the same work again. Not an inference
 * request's attempts (src/inference/requestAttempts.ts) nor a batch's retry (src/batches/retry.ts).
 */

/**
 * Runs `work`, trying again after any failure (or those `isTransient` accepts) with exponential
 * backoff (from `initialDelayMs` to `maxDelayMs`) for up to `budgetMs`; an error after the budget is
 * the work's own.
 */
export async function keepTrying<T>(
  budgetMs: number,
  work: () => Promise<T>,
  backoff: { initialDelayMs: number; maxDelayMs: number },
  isTransient: (err: unknown) => boolean = () => true,
): Promise<T> {
  const deadline = Date.now() + budgetMs;
  const policy = retry(
    handleWhen((err) => Date.now() < deadline && isTransient(err)),
    { backoff: new ExponentialBackoff({ initialDelay: backoff.initialDelayMs, maxDelay: backoff.maxDelayMs }) },
  );
  return policy.execute(work);
}

/**
 * Runs `work` until it gets past `dependency` being away (`isUnavailable` says which failures mean
 * that; any other is rethrown), backing off to every 5 s, for as long as it takes or until `signal`
 * aborts. For start-up steps: a process started during an outage comes up once it ends instead of
 * exiting. Says once what it waits for, and once that it is back.
 */
export async function untilAvailable<T>(dependency: string, work: () => Promise<T>, isUnavailable: (err: unknown) => boolean, signal?: AbortSignal): Promise<T> {
  const policy = retry(handleWhen(isUnavailable), { backoff: new ExponentialBackoff({ initialDelay: 250, maxDelay: 5_000 }) });
  const startedAt = Date.now();
  let waiting = false;
  policy.onRetry((event) => {
    if (waiting) return;
    waiting = true;
    const reason = 'error' in event ? event.error.message : 'unknown';
    logger.warn({ dependency, reason }, `waiting for ${dependency}: it is unavailable`);
  });
  const result = await policy.execute(work, signal);
  if (waiting) logger.info({ dependency, waited_s: Math.round((Date.now() - startedAt) / 1000) }, `${dependency} is available again`);
  return result;
}
