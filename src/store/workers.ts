import type { Queryable } from '../db/pool';

/** A worker counts as live while its heartbeat is younger than this. */
export const WORKER_LIVENESS_SECONDS = 60;

export async function heartbeatInferenceWorker(db: Queryable, workerId: string, models: string[]): Promise<void> {
  await db.query(
    `INSERT INTO inference_workers (worker_id, model, last_seen_at)
     SELECT $1, unnest($2::text[]), now()
     ON CONFLICT (worker_id, model) DO UPDATE SET last_seen_at = now()`,
    [workerId, models],
  );
}

export async function removeInferenceWorker(db: Queryable, workerId: string): Promise<void> {
  await db.query(`DELETE FROM inference_workers WHERE worker_id = $1`, [workerId]);
}

export async function listLiveModels(db: Queryable): Promise<{ model: string; first_seen: Date }[]> {
  const { rows } = await db.query<{ model: string; first_seen: Date }>(
    `SELECT model, min(last_seen_at) AS first_seen FROM inference_workers
     WHERE last_seen_at > now() - make_interval(secs => $1)
     GROUP BY model ORDER BY model`,
    [WORKER_LIVENESS_SECONDS],
  );
  return rows;
}
