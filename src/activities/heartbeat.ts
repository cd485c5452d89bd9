import type { Context } from '@temporalio/activity';

/**
 * Beats go out at least this often, even while the work is between progress reports (a long query,
 * a slow backend), so a worker that dies is noticed within the activity's heartbeat timeout rather
 * than its start-to-close timeout, and a cancellation reaches the activity promptly.
 */
const MAX_HEARTBEAT_INTERVAL_MS = 5_000;

/** Runs `work` while heartbeating on a beat of a third of the heartbeat timeout (at most 5 s), with `details()` as the latest progress. */
export async function whileHeartbeating<T>(context: Context, work: () => Promise<T>, details: () => unknown = () => undefined): Promise<T> {
  const interval = Math.min(MAX_HEARTBEAT_INTERVAL_MS, (context.info.heartbeatTimeoutMs ?? 30_000) / 3);
  const beat = setInterval(() => context.heartbeat(details()), interval);
  try {
    return await work();
  } finally {
    clearInterval(beat);
  }
}
