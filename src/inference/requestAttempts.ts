/**
 * How many times one inference request is sent, and how long it waits between sends (a request's
 * own attempts; a batch's retry of its failed lines is src/batches/retry.ts).
 */
export type AttemptPolicy = { maxAttempts: number; initialDelayMs: number; maxDelayMs: number };

export const DEFAULT_ATTEMPT_POLICY: AttemptPolicy = { maxAttempts: 6, initialDelayMs: 500, maxDelayMs: 30_000 };

/**
 * Delay after `failedAttempts` failed sends (1 = before the second): exponential with full jitter,
 * but never shorter than a server's Retry-After, which knows its own load better than we do.
 */
export function backoffMs(policy: AttemptPolicy, failedAttempts: number, retryAfterMs?: number, random = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (failedAttempts - 1));
  const jittered = ceiling / 2 + random() * (ceiling / 2);
  return Math.max(jittered, retryAfterMs ?? 0);
}

/** Parses Retry-After (seconds or HTTP date) into milliseconds. */
export function parseRetryAfter(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
