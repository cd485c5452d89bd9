import type { Queryable } from '../db/pool';
import { TERMINAL_STATUSES } from '../states/batch';

export type QueueRow = {
  tenant_id: string;
  name: string;
  /** Changes when a queue is deleted and created again, so its batch IDs never repeat. */
  id: string;
  /** Only the settings set explicitly (src/queues/settings.ts reads them); the rest follow the QUEUE_* defaults. */
  settings: Record<string, unknown>;
  /** The explicit `request_kwargs`, JSON text as the client wrote it (null: unset). */
  request_kwargs: string | null;
  queued: number;
  dispatch_count: number;
  last_dispatch_at: Date | null;
  checked_at: Date | null;
  created_at: Date;
};

export type QueueWithStats = QueueRow & { oldest_queued_at: Date | null; batches_in_flight: number };

const WITH_STATS = `
  SELECT q.*,
    (SELECT r.created_at FROM queued_requests r WHERE r.tenant_id = q.tenant_id AND r.queue = q.name AND r.status = 'queued' ORDER BY r.seq LIMIT 1) AS oldest_queued_at,
    (SELECT count(*)::int FROM batches b WHERE b.tenant_id = q.tenant_id AND b.queue = q.name AND b.status <> ALL($2)) AS batches_in_flight
  FROM queues q`;

/** Creates the queue unless it exists; returns undefined when it did (nothing changed). */
export async function insertQueue(
  db: Queryable,
  queue: { tenantId: string; name: string; id: string; settings: Record<string, unknown>; requestKwargs: string | null },
): Promise<QueueRow | undefined> {
  const { rows } = await db.query<QueueRow>(
    `INSERT INTO queues (tenant_id, name, id, settings, request_kwargs) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING *`,
    [queue.tenantId, queue.name, queue.id, JSON.stringify(queue.settings), queue.requestKwargs],
  );
  return rows[0];
}

export async function findQueue(db: Queryable, tenantId: string, name: string): Promise<QueueWithStats | undefined> {
  const { rows } = await db.query<QueueWithStats>(`${WITH_STATS} WHERE q.tenant_id = $1 AND q.name = $3`, [tenantId, TERMINAL_STATUSES, name]);
  return rows[0];
}

export async function listQueues(db: Queryable, tenantId: string): Promise<QueueWithStats[]> {
  const { rows } = await db.query<QueueWithStats>(`${WITH_STATS} WHERE q.tenant_id = $1 ORDER BY q.name`, [tenantId, TERMINAL_STATUSES]);
  return rows;
}

/**
 * Merges `patch` into the explicit settings; a null in the patch removes the setting (back to its
 * default). `requestKwargs`, text kept as written, replaces the stored one unless undefined (null unsets it).
 * Returns the queue's queued count, undefined when there is no such queue.
 */
export async function updateQueueSettings(
  db: Queryable,
  change: { tenantId: string; name: string; patch: Record<string, unknown>; requestKwargs: string | null | undefined },
): Promise<{ queued: number } | undefined> {
  const { rows } = await db.query<{ queued: number }>(
    `UPDATE queues SET settings = jsonb_strip_nulls(settings || $3::jsonb), request_kwargs = CASE WHEN $4 THEN $5 ELSE request_kwargs END
     WHERE tenant_id = $1 AND name = $2 RETURNING queued`,
    [change.tenantId, change.name, JSON.stringify(change.patch), change.requestKwargs !== undefined, change.requestKwargs ?? null],
  );
  return rows[0];
}

export type QueueDeletion = 'deleted' | 'not_found' | 'not_empty';

/** Deletes a queue that holds no queued request; its dispatched requests keep their results. */
export async function deleteQueue(db: Queryable, tenantId: string, name: string): Promise<QueueDeletion> {
  const { rows } = await db.query<{ found: boolean; deleted: boolean }>(
    `WITH target AS (SELECT queued FROM queues WHERE tenant_id = $1 AND name = $2),
     deleted AS (DELETE FROM queues WHERE tenant_id = $1 AND name = $2 AND queued = 0 RETURNING 1)
     SELECT EXISTS (SELECT 1 FROM target) AS found, EXISTS (SELECT 1 FROM deleted) AS deleted`,
    [tenantId, name],
  );
  const { found, deleted } = rows[0]!;
  return deleted ? 'deleted' : found ? 'not_empty' : 'not_found';
}

/** Reads the queue and holds its row lock until the transaction ends: enqueues and dispatches of it wait. */
export async function lockQueue(db: Queryable, tenantId: string, name: string): Promise<QueueRow | undefined> {
  const { rows } = await db.query<QueueRow>(`SELECT * FROM queues WHERE tenant_id = $1 AND name = $2 FOR UPDATE`, [tenantId, name]);
  return rows[0];
}

export type QueuedCount = { before: number; tenantQueued: number; secondsSinceChecked: number | null } & Pick<QueueRow, 'settings' | 'request_kwargs'>;

/**
 * Counts `added` more queued requests, locking the queue row until the transaction ends (a
 * dispatcher's check waits for it, so it never misses what this transaction commits). Returns the
 * queue's count before, the tenant's total after (its other queues as last committed), and how long
 * ago the dispatcher last looked, with the queue's settings; undefined when the queue does not exist.
 */
export async function addQueued(db: Queryable, tenantId: string, name: string, added: number): Promise<QueuedCount | undefined> {
  const { rows } = await db.query<{ before: number; tenant_queued: number; since_checked: number | null } & Pick<QueueRow, 'settings' | 'request_kwargs'>>(
    `WITH updated AS (UPDATE queues SET queued = queued + $3 WHERE tenant_id = $1 AND name = $2 RETURNING queued, checked_at, settings, request_kwargs)
     SELECT queued - $3 AS before, settings, request_kwargs,
            queued + (SELECT coalesce(sum(queued), 0)::int FROM queues WHERE tenant_id = $1 AND name <> $2) AS tenant_queued,
            extract(epoch FROM statement_timestamp() - checked_at)::float8 AS since_checked
     FROM updated`,
    [tenantId, name, added],
  );
  const row = rows[0];
  return (
    row && { before: row.before, tenantQueued: row.tenant_queued, secondsSinceChecked: row.since_checked, settings: row.settings, request_kwargs: row.request_kwargs }
  );
}

/** Stamps the dispatcher's check: the proof of life an enqueue reads (`addQueued`). */
export async function markQueueChecked(db: Queryable, tenantId: string, name: string): Promise<void> {
  await db.query(`UPDATE queues SET checked_at = statement_timestamp() WHERE tenant_id = $1 AND name = $2`, [tenantId, name]);
}

/** Records a dispatch of `claimed` requests: one batch more, that many fewer queued. */
export async function recordDispatch(db: Queryable, tenantId: string, name: string, claimed: number): Promise<void> {
  await db.query(
    `UPDATE queues SET queued = queued - $3, dispatch_count = dispatch_count + 1, last_dispatch_at = statement_timestamp()
     WHERE tenant_id = $1 AND name = $2`,
    [tenantId, name, claimed],
  );
}

/**
 * Queues holding requests whose dispatcher has not checked them for `silentSeconds` (its workflow
 * was terminated, say, and no enqueue came since to restart it): the reconciler wakes them.
 */
export async function listSilentQueues(db: Queryable, silentSeconds: number): Promise<Array<Pick<QueueRow, 'tenant_id' | 'name'>>> {
  const { rows } = await db.query<Pick<QueueRow, 'tenant_id' | 'name'>>(
    `SELECT tenant_id, name FROM queues
     WHERE queued > 0 AND (checked_at IS NULL OR checked_at < statement_timestamp() - make_interval(secs => $1))`,
    [silentSeconds],
  );
  return rows;
}
