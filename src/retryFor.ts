import { ExponentialBackoff, handleWhen, retry } from 'cockatiel';

/**
 * Runs `work`, retrying any failure with exponential backoff (from `initialDelayMs` to `maxDelayMs`)
 * for up to `budgetMs`; an error after the budget is the work's own. For waits on something that
 * comes back by itself: a database failing over, a server that has not yet seen a poller.
 */
export async function retryFor<T>(budgetMs: number, work: () => Promise<T>, backoff: { initialDelayMs: number; maxDelayMs: number }): Promise<T> {
  const deadline = Date.now() + budgetMs;
  const policy = retry(
    handleWhen(() => Date.now() < deadline),
    { backoff: new ExponentialBackoff({ initialDelay: backoff.initialDelayMs, maxDelay: backoff.maxDelayMs }) },
  );
  return policy.execute(work);
}
