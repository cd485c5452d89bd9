import type { Queryable } from '../db/pool';

/** A worker counts as live while its heartbeat is younger than this. */
export const WORKER_LIVENESS_SECONDS = 60;

/** A model a GPU worker serves, and the batch endpoints its backends serve it for. */
export type ServedModel = { model: string; endpoints: string[] };

/**
 * A served model as the heartbeat writes it: with the worker's capacity for it, the sum of the depths
 * its backends in rotation serving it have found (undefined: unknown, stored as NULL).
 */
export type ServedCapacity = ServedModel & { capacity?: number };

/**
 * Announces (or refreshes) what the worker serves, and its capacity for each model. The endpoints
 * travel joined by commas, one text per model, since PostgreSQL cannot unnest an array of arrays row
 * by row; no endpoint path has a comma.
 */
export async function heartbeatInferenceWorker(db: Queryable, workerId: string, served: ServedCapacity[]): Promise<void> {
  await db.query(
    `INSERT INTO inference_workers (worker_id, model, endpoints, capacity, last_seen_at)
     SELECT $1, s.model, string_to_array(s.endpoints, ','), s.capacity, now() FROM unnest($2::text[], $3::text[], $4::int[]) AS s(model, endpoints, capacity)
     ON CONFLICT (worker_id, model) DO UPDATE SET last_seen_at = now(), endpoints = EXCLUDED.endpoints, capacity = EXCLUDED.capacity`,
    [workerId, served.map((s) => s.model), served.map((s) => s.endpoints.join(',')), served.map((s) => s.capacity ?? null)],
  );
}

export async function removeInferenceWorker(db: Queryable, workerId: string): Promise<void> {
  await db.query(`DELETE FROM inference_workers WHERE worker_id = $1`, [workerId]);
}

/** Each model some live worker serves, with every endpoint some live worker serves it for (sorted). */
export async function listLiveModels(db: Queryable): Promise<{ model: string; first_seen: Date; endpoints: string[] }[]> {
  const { rows } = await db.query<{ model: string; first_seen: Date; endpoints: string[] }>(
    `SELECT w.model, min(w.last_seen_at) AS first_seen,
            coalesce(array_agg(DISTINCT e.endpoint ORDER BY e.endpoint) FILTER (WHERE e.endpoint IS NOT NULL), '{}') AS endpoints
     FROM inference_workers w LEFT JOIN LATERAL unnest(w.endpoints) AS e(endpoint) ON true
     WHERE w.last_seen_at > now() - make_interval(secs => $1)
     GROUP BY w.model ORDER BY w.model`,
    [WORKER_LIVENESS_SECONDS],
  );
  return rows;
}

/**
 * The capacity of the live workers serving `model` at `endpoint`: how many report one, and the sum
 * of what they report (workers from before capacities were reported count in neither). A worker that
 * died counts until its heartbeat is WORKER_LIVENESS_SECONDS old.
 */
export async function fleetCapacity(db: Queryable, model: string, endpoint: string): Promise<{ workers: number; depth: number }> {
  const { rows } = await db.query<{ workers: number; depth: number }>(
    `SELECT count(capacity)::int AS workers, coalesce(sum(capacity), 0)::int AS depth FROM inference_workers
     WHERE model = $1 AND $2 = ANY(endpoints) AND last_seen_at > now() - make_interval(secs => $3)`,
    [model, endpoint, WORKER_LIVENESS_SECONDS],
  );
  return rows[0]!;
}
