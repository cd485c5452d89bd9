import type { Queryable } from '../db/pool';
import { ACCEPTS_RESULTS, ENDED_UNFINISHED } from '../states/batch';

/** `body` is JSON text, stored (in a `json` column) and sent to vLLM exactly as it is. */
export type PlannedRequest = { lineNo: number; chunkNo: number; customId: string; body: string };
export type PendingRequest = { line_no: number; custom_id: string; body: string };

/** Final outcome of one request: a response (any status) or, when none was obtained, an error. */
export type RequestResult = {
  lineNo: number;
  requestId: string;
  statusCode: number | null;
  /** The response body as one line of JSON text, stored as is (null when there was no response). */
  responseJson: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  inputTokens: number;
  outputTokens: number;
};

export type RequestWithResult = {
  line_no: number;
  custom_id: string;
  request_id: string | null;
  status_code: number | null;
  /** The backend's response body as stored JSON text, spliced into output lines unparsed. */
  response_body: string | null;
  error_code: string | null;
  error_message: string | null;
};

/**
 * Idempotent: a retried validation re-inserts the same lines harmlessly. The group travels as one
 * JSON array, built natively (JSON.stringify) where four PostgreSQL array literals were escaped
 * element by element in JavaScript, on the path every line takes before its batch may start. Each
 * body goes as a string cast to `json`, which keeps its text as written: read as JSON by
 * json_to_recordset, a body with an escaped NUL would be refused.
 */
export async function insertPlannedRequests(db: Queryable, batchId: string, requests: PlannedRequest[]): Promise<void> {
  if (requests.length === 0) return;
  const rows = requests.map((r) => ({ l: r.lineNo, c: r.chunkNo, i: r.customId, b: r.body }));
  await db.query(
    `INSERT INTO batch_requests (batch_id, line_no, chunk_no, custom_id, body)
     SELECT $1, r.l, r.c, r.i, r.b::json FROM json_to_recordset($2::json) AS r (l int, c int, i text, b text)
     ON CONFLICT DO NOTHING`,
    [batchId, JSON.stringify(rows)],
  );
}

/**
 * Checkpoints results and bumps the batch's live counters in one statement. Results already stored
 * (a retried flush) are skipped and not counted again, which keeps request_counts exact.
 */
export async function storeResults(db: Queryable, batchId: string, results: RequestResult[]): Promise<number> {
  if (results.length === 0) return 0;
  const { rows } = await db.query<{ inserted: number }>(
    `WITH inserted AS (
       INSERT INTO batch_results
         (batch_id, line_no, request_id, status_code, response_body, error_code, error_message, input_tokens, output_tokens)
       SELECT $1, * FROM unnest($2::int[], $3::text[], $4::int[], $5::json[], $6::text[], $7::text[], $8::int[], $9::int[])
       -- Only while the batch runs and finalize has not sealed it. The row lock waits out a seal in
       -- progress (then sees it) and queues concurrent flushes of one batch, which also update its
       -- counters, instead of deadlocking them; it is the UPDATE's own (NO KEY UPDATE), so a chunk
       -- writing its lines meanwhile (a KEY SHARE lock, through its foreign key) does not hold it up.
       WHERE EXISTS (SELECT 1 FROM batches WHERE id = $1 AND status = ANY($10) AND final_status IS NULL FOR NO KEY UPDATE)
       ON CONFLICT DO NOTHING
       RETURNING status_code, input_tokens, output_tokens
     ), totals AS (
       SELECT count(*) FILTER (WHERE status_code BETWEEN 200 AND 299) AS ok,
              count(*) FILTER (WHERE status_code IS NULL OR status_code NOT BETWEEN 200 AND 299) AS failed,
              coalesce(sum(input_tokens), 0) AS input_tokens,
              coalesce(sum(output_tokens), 0) AS output_tokens,
              count(*) AS inserted
       FROM inserted
     ), bump AS (
       UPDATE batches b SET
         completed_requests = b.completed_requests + t.ok,
         failed_requests = b.failed_requests + t.failed,
         input_tokens = b.input_tokens + t.input_tokens,
         output_tokens = b.output_tokens + t.output_tokens
       FROM totals t WHERE b.id = $1 AND t.inserted > 0
     )
     SELECT inserted::int FROM totals`,
    [
      batchId,
      results.map((r) => r.lineNo),
      results.map((r) => r.requestId),
      results.map((r) => r.statusCode),
      results.map((r) => r.responseJson),
      results.map((r) => r.errorCode),
      results.map((r) => r.errorMessage),
      results.map((r) => r.inputTokens),
      results.map((r) => r.outputTokens),
      ACCEPTS_RESULTS,
    ],
  );
  return rows[0]?.inserted ?? 0;
}

/**
 * A request's result, looked up by both columns of batch_results' primary key for each request row
 * `r` of the statement: one index probe a request, reading at most one result, whatever the
 * statistics say. The LIMIT keeps it a subquery the planner cannot flatten into a join: as a join
 * (the `NOT EXISTS` and `LEFT JOIN` these statements had), a batch newer than the statistics (one row
 * expected on each side) got a nested loop whose inner index scan had `batch_id` alone as its
 * condition, reading all the batch's results for each request of the chunk (docs/capacity.md).
 */
const resultOf = (columns: string) => `LEFT JOIN LATERAL (SELECT ${columns} FROM batch_results x WHERE x.batch_id = $1 AND x.line_no = r.line_no LIMIT 1) x ON true`;

/**
 * A page of requests with their outcome (null fields when not executed, or not yet). The page of
 * requests is cut before the join: a LIMIT under a join let the planner, misled by a fresh batch's
 * missing statistics, join and sort every later line for each page.
 */
const withResults = (page: string) =>
  `WITH page AS MATERIALIZED (${page})
   SELECT r.line_no, r.custom_id, x.request_id, x.status_code, x.response_body::text AS response_body, x.error_code, x.error_message
   FROM page r
   ${resultOf('x.request_id, x.status_code, x.response_body, x.error_code, x.error_message')}
   ORDER BY r.line_no`;

/**
 * The statements of the GPU worker's reads of a chunk, exported for test/component/chunkQueries.test.ts,
 * which runs these very texts under EXPLAIN ANALYZE. $1 is the batch, $2 the chunk.
 */
export const CHUNK_STATEMENTS = {
  findPendingRequests: `SELECT r.line_no, r.custom_id, r.body::text AS body FROM batch_requests r
   ${resultOf('x.line_no')}
   WHERE r.batch_id = $1 AND r.chunk_no = $2 AND x.line_no IS NULL
   ORDER BY r.line_no`,
  countUnfinishedInChunk: `SELECT count(*)::int AS unfinished FROM batch_requests r
   ${resultOf('x.line_no')}
   WHERE r.batch_id = $1 AND r.chunk_no = $2 AND x.line_no IS NULL`,
  /** $3: the line after which the page starts; $4: its size. */
  readChunkWithResults: withResults(`SELECT line_no, custom_id FROM batch_requests WHERE batch_id = $1 AND chunk_no = $2 AND line_no > $3 ORDER BY line_no LIMIT $4`),
};

/**
 * The chunk's requests that have no checkpointed result yet: what a (re)started chunk must still do;
 * bodies as stored text. Reads the chunk's requests and at most one result each, however large the
 * batch and whatever the statistics know of it.
 */
export async function findPendingRequests(db: Queryable, batchId: string, chunkNo: number): Promise<PendingRequest[]> {
  const { rows } = await db.query<PendingRequest>(CHUNK_STATEMENTS.findPendingRequests, [batchId, chunkNo]);
  return rows;
}

/**
 * How many of the chunk's requests have no result yet. Reads the chunk's requests and at most one
 * result each, however large the batch and whatever the statistics know of it.
 */
export async function countUnfinishedInChunk(db: Queryable, batchId: string, chunkNo: number): Promise<number> {
  const { rows } = await db.query<{ unfinished: number }>(CHUNK_STATEMENTS.countUnfinishedInChunk, [batchId, chunkNo]);
  return rows[0]!.unfinished;
}

/**
 * Up to `limit` requests of one chunk after line `afterLineNo`, in input order, with their outcome.
 * Reads the page's requests and at most one result each, however large the batch and whatever the
 * statistics know of it.
 */
export async function readChunkWithResults(db: Queryable, batchId: string, chunkNo: number, afterLineNo: number, limit: number): Promise<RequestWithResult[]> {
  const { rows } = await db.query<RequestWithResult>(CHUNK_STATEMENTS.readChunkWithResults, [batchId, chunkNo, afterLineNo, limit]);
  return rows;
}

/**
 * Up to `limit` requests of the batch after line `afterLineNo`, in input order, with their outcome
 * (at most one result read for each). Results only ever get added, so a later read sees at least
 * what an earlier one did.
 */
export async function readBatchWithResults(db: Queryable, batchId: string, afterLineNo: number, limit: number): Promise<RequestWithResult[]> {
  const { rows } = await db.query<RequestWithResult>(
    withResults(`SELECT line_no, custom_id FROM batch_requests WHERE batch_id = $1 AND line_no > $2 ORDER BY line_no LIMIT $3`),
    [batchId, afterLineNo, limit],
  );
  return rows;
}

/**
 * Drops what a batch that ended before it ran holds: its request index, and the results its first
 * chunks stored while it was still validating (they start before validation ends), with the
 * counters those bumped: a batch that never ran reports no request. Only once the batch is
 * terminal and was never in progress: an overlapping validation attempt must not wipe the index of
 * a batch another attempt started, and no result is stored after the end (`storeResults`), so
 * nothing comes back afterwards. Idempotent.
 */
export async function discardUnstartedBatch(db: Queryable, batchId: string): Promise<void> {
  await db.query(
    `WITH ended AS (SELECT id FROM batches WHERE id = $1 AND status = ANY($2) AND in_progress_at IS NULL),
       requests AS (DELETE FROM batch_requests WHERE batch_id IN (SELECT id FROM ended)),
       results AS (DELETE FROM batch_results WHERE batch_id IN (SELECT id FROM ended))
     UPDATE batches SET completed_requests = 0, failed_requests = 0, input_tokens = 0, output_tokens = 0
     WHERE id IN (SELECT id FROM ended) AND completed_requests + failed_requests > 0`,
    [batchId, ENDED_UNFINISHED],
  );
}

/** Lines whose custom_id an earlier line of the batch already uses, in line order. */
export async function findDuplicateCustomIds(db: Queryable, batchId: string, limit: number): Promise<{ line_no: number; custom_id: string }[]> {
  const { rows } = await db.query<{ line_no: number; custom_id: string }>(
    `SELECT line_no, custom_id FROM (
       SELECT line_no, custom_id, row_number() OVER (PARTITION BY custom_id ORDER BY line_no) AS occurrence
       FROM batch_requests WHERE batch_id = $1
     ) numbered
     WHERE occurrence > 1 ORDER BY line_no LIMIT $2`,
    [batchId, limit],
  );
  return rows;
}
