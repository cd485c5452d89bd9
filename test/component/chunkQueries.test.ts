import type { Db, DbClient } from '../../src/db/pool';
import { CHUNK_STATEMENTS, countUnfinishedInChunk, findPendingRequests, readChunkWithResults } from '../../src/store/requests';
import { connectTestDb } from '../support/fixtures';

/**
 * The GPU worker's reads of a chunk, on the real PostgreSQL, in the situation docs/capacity.md found
 * them slow in: a large batch that follows others, newer than the statistics. The planner then
 * expects one row on each side, and once chose a nested loop whose inner index scan had only
 * `batch_id` as its condition: all the batch's results read for each request of the chunk (5,000,000
 * rows for a chunk of 500). What is asserted is the plan, not the time: the rows it read from the two
 * tables stay within a small multiple of the chunk, however large the batch.
 *
 * Everything happens in one transaction that is rolled back, on temporary copies of batch_requests
 * and batch_results (same columns, keys and indexes) that shadow the real ones: the statements' own
 * text resolves to them, their statistics are this test's alone (ANALYZE of the earlier batches
 * only), and autovacuum never analyzes a temporary table behind the test's back.
 */

const CHUNK_SIZE = 500;
const EARLIER_BATCHES = 5;
const EARLIER_BATCH_LINES = 2_000;
const BATCH_LINES = 20_000;
/** The new batch's results: its first 10,000 lines (chunks 0 to 19) and the first half of chunk 25. */
const FINISHED_LINES = 10_000;
const HALF_DONE_CHUNK = 25;
/** Chunks 10 (every request has its result), 25 (half of them) and 30 (none). */
const CHUNKS = [
  { chunkNo: 10, unfinished: 0 },
  { chunkNo: HALF_DONE_CHUNK, unfinished: CHUNK_SIZE / 2 },
  { chunkNo: 30, unfinished: CHUNK_SIZE },
];
const MAX_ROWS_READ = 4 * CHUNK_SIZE;

type PlanNode = {
  'Node Type': string;
  'Relation Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  Plans?: PlanNode[];
};

/**
 * Rows the plan's scans of the two tables read, by table: rows returned plus rows their own filters
 * removed, over all their loops (EXPLAIN reports both per loop).
 */
function rowsRead(node: PlanNode, into: Record<string, number> = {}): Record<string, number> {
  const table = node['Relation Name'];
  if (table === 'batch_requests' || table === 'batch_results') {
    const perLoop = (node['Actual Rows'] ?? 0) + (node['Rows Removed by Filter'] ?? 0) + (node['Rows Removed by Index Recheck'] ?? 0);
    into[table] = (into[table] ?? 0) + Math.round(perLoop * (node['Actual Loops'] ?? 0));
  }
  for (const child of node.Plans ?? []) rowsRead(child, into);
  return into;
}

describe('the chunk reads of a large batch newer than the statistics', () => {
  let db: Db;
  let client: DbClient;
  const batchId = 'batch_chunkqueries_new';

  beforeAll(async () => {
    db = await connectTestDb(1);
    client = await db.connect();
    await client.query('BEGIN');
    for (const table of ['batch_requests', 'batch_results']) {
      await client.query(`CREATE TEMPORARY TABLE ${table} (LIKE public.${table} INCLUDING ALL) ON COMMIT DROP`);
    }
    const insertBatch = async (id: string, lines: number, resultWhere: string) => {
      await client.query(
        `INSERT INTO batch_requests (batch_id, line_no, chunk_no, custom_id, body)
         SELECT $1, n, (n - 1) / $3, 'request-' || n, '{"model": "m", "messages": [{"role": "user", "content": "hello"}]}'
         FROM generate_series(1, $2::int) n`,
        [id, lines, CHUNK_SIZE],
      );
      await client.query(
        `INSERT INTO batch_results (batch_id, line_no, request_id, status_code, response_body, input_tokens, output_tokens)
         SELECT batch_id, line_no, 'req-' || line_no, 200, '{"id": "cmpl", "choices": []}', 5, 7
         FROM batch_requests WHERE batch_id = $1 AND (${resultWhere})`,
        [id],
      );
    };
    for (let i = 0; i < EARLIER_BATCHES; i++) await insertBatch(`batch_chunkqueries_earlier_${i}`, EARLIER_BATCH_LINES, 'true');
    // The statistics know the earlier batches, and nothing of the next one.
    await client.query('ANALYZE batch_requests');
    await client.query('ANALYZE batch_results');
    await insertBatch(
      batchId,
      BATCH_LINES,
      `line_no <= ${FINISHED_LINES} OR (chunk_no = ${HALF_DONE_CHUNK} AND line_no % ${CHUNK_SIZE} BETWEEN 1 AND ${CHUNK_SIZE / 2})`,
    );
  });

  afterAll(async () => {
    await client?.query('ROLLBACK').catch(() => undefined);
    client?.release();
    await db?.end();
  });

  async function explain(statement: string, params: unknown[]): Promise<Record<string, number>> {
    const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${statement}`, params);
    return rowsRead(rows[0]!['QUERY PLAN'][0].Plan);
  }

  it.each(CHUNKS)('countUnfinishedInChunk reads only chunk $chunkNo', async ({ chunkNo, unfinished }) => {
    expect(await countUnfinishedInChunk(client, batchId, chunkNo)).toBe(unfinished);
    const read = await explain(CHUNK_STATEMENTS.countUnfinishedInChunk, [batchId, chunkNo]);
    expect(read.batch_requests).toBe(CHUNK_SIZE);
    expect(read.batch_requests! + read.batch_results!).toBeLessThanOrEqual(MAX_ROWS_READ);
  });

  it.each(CHUNKS)('findPendingRequests reads only chunk $chunkNo', async ({ chunkNo, unfinished }) => {
    const pending = await findPendingRequests(client, batchId, chunkNo);
    expect(pending).toHaveLength(unfinished);
    expect(pending.map((r) => r.line_no)).toEqual([...pending.map((r) => r.line_no)].sort((a, b) => a - b));
    const read = await explain(CHUNK_STATEMENTS.findPendingRequests, [batchId, chunkNo]);
    expect(read.batch_requests).toBe(CHUNK_SIZE);
    expect(read.batch_requests! + read.batch_results!).toBeLessThanOrEqual(MAX_ROWS_READ);
  });

  it.each(CHUNKS)('readChunkWithResults reads only the page of chunk $chunkNo', async ({ chunkNo, unfinished }) => {
    const page = CHUNK_SIZE / 5;
    const lines = [];
    for (let rows = await readChunkWithResults(client, batchId, chunkNo, 0, page); rows.length > 0;) {
      lines.push(...rows);
      rows = rows.length < page ? [] : await readChunkWithResults(client, batchId, chunkNo, rows.at(-1)!.line_no, page);
    }
    expect(lines).toHaveLength(CHUNK_SIZE);
    expect(lines.filter((line) => line.request_id === null)).toHaveLength(unfinished);
    // A page from the middle of the chunk, as writeChunkLines reads them.
    const after = chunkNo * CHUNK_SIZE + 2 * page;
    const read = await explain(CHUNK_STATEMENTS.readChunkWithResults, [batchId, chunkNo, after, page]);
    expect(read.batch_requests).toBe(page);
    expect(read.batch_requests! + read.batch_results!).toBeLessThanOrEqual(4 * page);
  });
});
