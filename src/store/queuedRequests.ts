import type { Queryable } from '../db/pool';
import type { RequestStatus, StoredRequestStatus } from '../states/request';
import type { RequestWithResult } from './requests';

/** A queued request as `queued_request_states` (migrations 008, 014, 018) shows it: with its batch's status and its result once the batch has run. */
export type QueuedRequestRow = RequestWithResult & {
  id: string;
  seq: number;
  tenant_id: string;
  queue: string;
  model: string;
  endpoint: string;
  status: StoredRequestStatus;
  effective_status: RequestStatus;
  batch_id: string | null;
  batch_status: string | null;
  created_at: Date;
  dispatched_at: Date | null;
  cancelled_at: Date | null;
  expired_at: Date | null;
  finished_at: Date | null;
};

/** A request as its line will be: `body` is the line's body as JSON text, exactly as it will be sent. */
export type NewQueuedRequest = { id: string; customId: string; model: string; endpoint: string; body: string };

const COLUMNS = `id, seq, tenant_id, queue, custom_id, model, endpoint, status, effective_status, batch_id, batch_status, line_no,
  request_id, status_code, response_body::text AS response_body, error_code, error_message, created_at, dispatched_at, cancelled_at, expired_at, finished_at`;

/**
 * Inserts the requests as `queued`, in order, each expiring `windowSeconds` from now unless
 * dispatched before; a custom_id already queued in this queue is skipped. Returns the IDs inserted:
 * fewer than given means a duplicate, and the caller rolls back. Bodies go to a `json` column, which
 * keeps their text byte for byte.
 */
export async function insertQueuedRequests(
  db: Queryable,
  queued: { tenantId: string; queue: string; windowSeconds: number; requests: NewQueuedRequest[] },
): Promise<Set<string>> {
  const { requests } = queued;
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO queued_requests (id, tenant_id, queue, custom_id, model, endpoint, body, expires_at)
     SELECT r.id, $1, $2, r.custom_id, r.model, r.endpoint, r.body, statement_timestamp() + make_interval(secs => $3)
     FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::json[]) WITH ORDINALITY AS r (id, custom_id, model, endpoint, body, n)
     ORDER BY r.n
     ON CONFLICT (tenant_id, queue, custom_id) WHERE status = 'queued' DO NOTHING
     RETURNING id`,
    [
      queued.tenantId,
      queued.queue,
      queued.windowSeconds,
      requests.map((r) => r.id),
      requests.map((r) => r.customId),
      requests.map((r) => r.model),
      requests.map((r) => r.endpoint),
      requests.map((r) => r.body),
    ],
  );
  return new Set(rows.map((r) => r.id));
}

/** The requests of one queue that one batch may take: same model, same endpoint. */
export type QueuedGroup = { model: string; endpoint: string; queued: number; oldest_age_seconds: number };

/** The queue's queued requests by (model, endpoint), the group holding the oldest request first. */
export async function queuedGroups(db: Queryable, tenantId: string, queue: string): Promise<QueuedGroup[]> {
  const { rows } = await db.query<QueuedGroup>(
    `SELECT model, endpoint, count(*)::int AS queued, extract(epoch FROM statement_timestamp() - min(created_at))::float8 AS oldest_age_seconds
     FROM queued_requests WHERE tenant_id = $1 AND queue = $2 AND status = 'queued'
     GROUP BY model, endpoint ORDER BY min(seq)`,
    [tenantId, queue],
  );
  return rows;
}

type GroupOf = { tenantId: string; queue: string; model: string; endpoint: string };

/**
 * Claims up to `limit` of the group's oldest queued requests into `batchId`, numbering them 1, 2, …
 * as the lines of its input file. Returns how many; run under the queue's row lock.
 */
export async function claimQueuedRequests(db: Queryable, claim: GroupOf & { limit: number; batchId: string }): Promise<number> {
  const { rowCount } = await db.query(
    `WITH picked AS (
       SELECT id, row_number() OVER (ORDER BY seq) AS line_no FROM (
         SELECT id, seq FROM queued_requests
         WHERE tenant_id = $1 AND queue = $2 AND status = 'queued' AND model = $3 AND endpoint = $4
         ORDER BY seq LIMIT $5) oldest)
     UPDATE queued_requests r SET status = 'dispatched', batch_id = $6, line_no = picked.line_no, dispatched_at = statement_timestamp()
     FROM picked WHERE r.id = picked.id`,
    [claim.tenantId, claim.queue, claim.model, claim.endpoint, claim.limit, claim.batchId],
  );
  return rowCount ?? 0;
}

/**
 * Ends as `expired` the group's queued requests whose completion window has passed, and uncounts
 * them from the queue, in one statement. Returns how many; run under the queue's row lock.
 */
export async function expireQueuedRequests(db: Queryable, group: GroupOf): Promise<number> {
  const { rows } = await db.query<{ expired: number }>(
    `WITH expired AS (
       UPDATE queued_requests SET status = 'expired', expired_at = statement_timestamp()
       WHERE tenant_id = $1 AND queue = $2 AND model = $3 AND endpoint = $4 AND status = 'queued' AND expires_at <= statement_timestamp()
       RETURNING 1),
     counted AS (SELECT count(*)::int AS expired FROM expired)
     UPDATE queues q SET queued = q.queued - counted.expired FROM counted
     WHERE q.tenant_id = $1 AND q.name = $2 AND counted.expired > 0 RETURNING counted.expired`,
    [group.tenantId, group.queue, group.model, group.endpoint],
  );
  return rows[0]?.expired ?? 0;
}

/** A page of the lines claimed into `batchId`, in line order, bodies as stored JSON text. */
export async function readClaimedLines(
  db: Queryable,
  batchId: string,
  afterLineNo: number,
  limit: number,
): Promise<{ line_no: number; custom_id: string; body: string }[]> {
  const { rows } = await db.query<{ line_no: number; custom_id: string; body: string }>(
    `SELECT line_no, custom_id, body::text AS body FROM queued_requests WHERE batch_id = $1 AND line_no > $2 ORDER BY line_no LIMIT $3`,
    [batchId, afterLineNo, limit],
  );
  return rows;
}

/** A tenant's request: another tenant's is not found, exactly like one that does not exist. */
export async function findQueuedRequest(db: Queryable, tenantId: string, id: string): Promise<QueuedRequestRow | undefined> {
  const { rows } = await db.query<QueuedRequestRow>(`SELECT ${COLUMNS} FROM queued_request_states WHERE id = $1 AND tenant_id = $2`, [id, tenantId]);
  return rows[0];
}

export type QueuedRequestListQuery = { queue?: string; status?: RequestStatus; after?: string; limit: number; order: 'asc' | 'desc' };

/**
 * A page of the tenant's requests in enqueue order (or its reverse), starting after the request
 * `after`, `limit + 1` rows at most. Undefined when `after` names no request of this tenant.
 */
export async function listQueuedRequests(db: Queryable, tenantId: string, query: QueuedRequestListQuery): Promise<QueuedRequestRow[] | undefined> {
  const [compare, direction] = query.order === 'asc' ? ['>', 'ASC'] : ['<', 'DESC'];
  let cursor: number | null = null;
  if (query.after !== undefined) {
    const { rows } = await db.query<{ seq: number }>(`SELECT seq FROM queued_requests WHERE id = $1 AND tenant_id = $2`, [query.after, tenantId]);
    if (rows.length === 0) return undefined;
    cursor = rows[0]!.seq;
  }
  const { rows } = await db.query<QueuedRequestRow>(
    `SELECT ${COLUMNS} FROM queued_request_states
     WHERE tenant_id = $1 AND ($2::text IS NULL OR queue = $2) AND ($3::text IS NULL OR effective_status = $3)
       AND ($4::bigint IS NULL OR seq ${compare} $4)
     ORDER BY seq ${direction} LIMIT $5`,
    [tenantId, query.queue ?? null, query.status ?? null, cursor, query.limit + 1],
  );
  return rows;
}

/**
 * Cancels a request still queued, and uncounts it from its queue, in one statement. Returns false
 * when no such request of this tenant is queued (it may be dispatched already). It takes the queue's
 * row lock before the request's, the order a dispatch takes them in (`lockQueue`, then the claim):
 * the other order deadlocks with a dispatch claiming this request, and PostgreSQL aborts one of them.
 */
export async function cancelQueuedRequest(db: Queryable, tenantId: string, id: string): Promise<boolean> {
  const { rows } = await db.query(
    `WITH locked AS (
       SELECT q.name FROM queues q
       WHERE q.tenant_id = $2 AND q.name = (SELECT queue FROM queued_requests WHERE id = $1 AND tenant_id = $2)
       FOR UPDATE),
     cancelled AS (
       UPDATE queued_requests SET status = 'cancelled', cancelled_at = statement_timestamp()
       WHERE id = $1 AND tenant_id = $2 AND status = 'queued' AND queue = (SELECT name FROM locked) RETURNING queue)
     UPDATE queues q SET queued = q.queued - 1 FROM cancelled c WHERE q.tenant_id = $2 AND q.name = c.queue RETURNING 1`,
    [id, tenantId],
  );
  return rows.length === 1;
}
