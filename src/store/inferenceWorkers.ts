import type { Queryable } from '../db/pool';

/** A worker counts as live while its heartbeat is younger than this. */
export const WORKER_LIVENESS_SECONDS = 60;

/** A model a GPU worker serves, and the batch endpoints its backends serve it for. */
export type ServedModel = { model: string; endpoints: string[] };

/**
 * Announces (or refreshes) what the worker serves. The endpoints travel joined by commas, one text
 * per model, since PostgreSQL cannot unnest an array of arrays row by row; no endpoint path has a comma.
 */
export async function heartbeatInferenceWorker(db: Queryable, workerId: string, served: ServedModel[]): Promise<void> {
  await db.query(
    `INSERT INTO inference_workers (worker_id, model, endpoints, last_seen_at)
     SELECT $1, s.model, string_to_array(s.endpoints, ','), now() FROM unnest($2::text[], $3::text[]) AS s(model, endpoints)
     ON CONFLICT (worker_id, model) DO UPDATE SET last_seen_at = now(), endpoints = EXCLUDED.endpoints`,
    [workerId, served.map((s) => s.model), served.map((s) => s.endpoints.join(','))],
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
