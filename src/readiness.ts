import type { Client } from '@temporalio/client';
import type { Queryable } from './db/pool';
import type { BackendStatus } from './roles/inferenceRole';
import { withTimeout } from './withTimeout';

const READY_PROBE_MS = 800;

/**
 * Readiness with its details: whether PostgreSQL and Temporal answer, and this process's backends
 * (their redacted labels, states, models, depths). Anyone may learn `status`; the details are the
 * fleet's topology, for operator keys and the metrics listener only.
 */
export type Readiness = { status: 'ok' | 'unavailable'; postgres: boolean; temporal: boolean; backends?: BackendStatus[] };

export type ReadinessProbe = () => Promise<Readiness>;

export function readinessProbe(deps: { db: Queryable; temporal: Client; backends: () => BackendStatus[] | undefined }): ReadinessProbe {
  return async () => {
    // A dependency that does not answer within the probe's budget is as good as down: answer 503, never hang.
    const [postgres, temporal] = await Promise.all([
      answersWithin(deps.db.query('SELECT 1'), READY_PROBE_MS),
      answersWithin(deps.temporal.workflowService.getSystemInfo({}), READY_PROBE_MS),
    ]);
    // Backends are reported, not required: while they are down, work is accepted and waits for them.
    const backends = deps.backends();
    return { status: postgres && temporal ? 'ok' : 'unavailable', postgres, temporal, ...(backends ? { backends } : {}) };
  };
}

/** The HTTP status readiness answers with. */
export const readinessHttpStatus = (readiness: Readiness) => (readiness.status === 'ok' ? 200 : 503);

function answersWithin(probe: Promise<unknown>, ms: number): Promise<boolean> {
  return withTimeout(probe, ms).then(
    () => true,
    () => false,
  );
}
