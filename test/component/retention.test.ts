import crypto from 'node:crypto';
import pg from 'pg';
import { finalizeBatch } from '../../src/pipeline/finalize';
import type { Db } from '../../src/db/pool';
import { applyRetention } from '../../src/retention/apply';
import { findBatchById, type BatchRow } from '../../src/store/batches';
import { findFile, markFileDeleted } from '../../src/store/files';
import { claimQueuedRequests, findQueuedRequest, insertQueuedRequests } from '../../src/store/queuedRequests';
import { chatLine } from '../support/batches';
import { announceModels, checkpoint, connectTestDb, plannedBatch, readResultFile, uniqueTenant } from '../support/fixtures';

/**
 * The retention pass on the real PostgreSQL, over batches planned by the real validateAndPlan,
 * results checkpointed and files written by the real store: what is left of a batch's prompts and
 * responses, looked for in every table of the schema.
 */

const TENANT = uniqueTenant('retention');
const MODEL = `component-retention-model-${crypto.randomUUID()}`;
const LINES = 1_000;
const pass = () => applyRetention(db, new AbortController().signal);
let db: Db;

/** The tables (with how many rows) whose rows contain `marker`, as text or, in bytea columns, as bytes. */
async function tablesHolding(marker: string): Promise<string[]> {
  const tables = await db.query<{ name: string }>(
    `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1`,
  );
  const holding: string[] = [];
  for (const { name } of tables.rows) {
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${pg.escapeIdentifier(name)} t WHERE strpos(t::text, $1) > 0 OR strpos(t::text, $2) > 0`,
      [marker, Buffer.from(marker).toString('hex')],
    );
    if (rows[0]!.n > 0) holding.push(`${name} (${rows[0]!.n})`);
  }
  return holding;
}

/** Bytes the batch's per-request rows take, and its files' parts, as PostgreSQL stores them (compressed). */
async function storedBytes(batch: BatchRow): Promise<{ requests: number; results: number; files: number }> {
  const sum = async (sql: string, key: unknown) => (await db.query<{ bytes: number }>(sql, [key])).rows[0]!.bytes;
  return {
    requests: await sum(`SELECT coalesce(sum(pg_column_size(r.*)), 0)::bigint AS bytes FROM batch_requests r WHERE batch_id = $1`, batch.id),
    results: await sum(`SELECT coalesce(sum(pg_column_size(r.*)), 0)::bigint AS bytes FROM batch_results r WHERE batch_id = $1`, batch.id),
    files: await sum(`SELECT coalesce(sum(pg_column_size(p.*)), 0)::bigint AS bytes FROM file_parts p WHERE file_id = ANY($1)`, [
      batch.input_file_id,
      batch.output_file_id,
      batch.error_file_id,
    ]),
  };
}

/** A finished batch of LINES requests whose prompts hold `prompt` and whose responses hold `response`. */
async function finishedBatch(prompt: string, response: string, options: { queue?: string; outputExpiresAfterSeconds?: number } = {}) {
  const lines = Array.from({ length: LINES }, (_, i) => chatLine(`r-${i}`, MODEL, `${prompt} question ${i}: ${'context '.repeat(20)}`));
  const { batch } = await plannedBatch(db, TENANT, lines, options);
  await checkpoint(
    db,
    batch.id,
    lines.map((_, i) => ({ lineNo: i + 1, status: 200, body: { object: 'chat.completion', choices: [{ message: { content: `${response} answer ${i}` } }] } })),
  );
  return finalizeBatch(db, batch.id, 'completed');
}

describe('applyRetention', () => {
  let withdraw: () => Promise<void>;

  beforeAll(async () => {
    db = await connectTestDb();
    withdraw = await announceModels(db, [MODEL]);
  });
  afterAll(async () => {
    await withdraw?.();
    await db?.end();
  });

  test("drops an ended batch's request bodies and results at once; once its files are expired or deleted, no prompt or response of it is left in any table", async () => {
    const [prompt, response] = [`prompt-${crypto.randomUUID()}`, `response-${crypto.randomUUID()}`];
    const done = await finishedBatch(prompt, response, { outputExpiresAfterSeconds: 7_200 });
    const output = (await findFile(db, TENANT, done.output_file_id!))!;
    // OpenAI's output_expires_after: anchored at the file's creation.
    expect(output.expires_at!.getTime() - output.created_at.getTime()).toBe(7_200_000);
    expect(await tablesHolding(prompt)).toEqual(['batch_requests (1000)', 'file_parts (1)']);
    // The output file: a part per chunk of 500.
    expect(await tablesHolding(response)).toEqual(['batch_results (1000)', 'file_parts (2)']);
    const before = await storedBytes(done);

    const report = await pass();
    expect(report.batchesRequestsPurged).toBeGreaterThanOrEqual(1);
    expect(report.batchesResultsPurged).toBeGreaterThanOrEqual(1);
    // Only the files are left, still whole; the batch is as it was.
    expect(await tablesHolding(prompt)).toEqual(['file_parts (1)']);
    expect(await tablesHolding(response)).toEqual(['file_parts (2)']);
    expect((await readResultFile(db, done.output_file_id)).map((l) => l.custom_id)).toEqual(Array.from({ length: LINES }, (_, i) => `r-${i}`));
    expect(await findBatchById(db, done.id)).toMatchObject({
      status: 'completed',
      completed_requests: LINES,
      requests_purged_at: expect.any(Date),
      results_purged_at: expect.any(Date),
    });
    const after = await storedBytes(done);
    console.log(
      `retention: ${before.requests / LINES} B/request of request rows and ${before.results / LINES} B/request of result rows before, ` +
        `${(after.requests + after.results) / LINES} after; the input and output files ${before.files / LINES} B/request`,
    );
    expect(after).toEqual({ requests: 0, results: 0, files: before.files });

    // The input file's time has come (as if its expires_after had passed); the user deletes the output file.
    await db.query(`UPDATE files SET expires_at = now() - interval '1 second' WHERE id = $1`, [done.input_file_id]);
    expect(await markFileDeleted(db, TENANT, done.output_file_id!)).toBe('deleted');
    expect((await pass()).filesExpired).toBeGreaterThanOrEqual(1);
    expect(await findFile(db, TENANT, done.input_file_id)).toBeUndefined();
    expect(await tablesHolding(prompt)).toEqual([]);
    expect(await tablesHolding(response)).toEqual([]);
  });

  test('a batch cut from a queue keeps its results (what its requests read) until its result files are gone, then their status only; its request bodies go at once', async () => {
    const [prompt, response] = [`prompt-${crypto.randomUUID()}`, `response-${crypto.randomUUID()}`];
    const queue = `q-${crypto.randomUUID()}`;
    const done = await finishedBatch(prompt, response, { queue });
    // The queued requests it was cut from, with their own copy of the prompts.
    const queued = Array.from({ length: 3 }, (_, i) => ({
      id: `qr-${crypto.randomUUID()}`,
      customId: `q-${i}`,
      model: MODEL,
      endpoint: '/v1/completions',
      body: JSON.stringify({ prompt: `${prompt} queued ${i}` }),
    }));
    await insertQueuedRequests(db, { tenantId: TENANT, queue, windowSeconds: 86_400, requests: queued });
    expect(await claimQueuedRequests(db, { tenantId: TENANT, queue, model: MODEL, endpoint: '/v1/completions', limit: 3, batchId: done.id })).toBe(3);
    expect(await tablesHolding(prompt)).toEqual(['batch_requests (1000)', 'file_parts (1)', 'queued_requests (3)']);

    await pass();
    expect(await tablesHolding(prompt)).toEqual(['file_parts (1)']);
    expect(await tablesHolding(response)).toEqual(['batch_results (1000)', 'file_parts (2)']);
    expect(await findBatchById(db, done.id)).toMatchObject({ requests_purged_at: expect.any(Date), results_purged_at: null });

    expect(await markFileDeleted(db, TENANT, done.output_file_id!)).toBe('deleted');
    await pass();
    expect(await tablesHolding(response)).toEqual([]);
    expect(await findBatchById(db, done.id)).toMatchObject({ results_purged_at: expect.any(Date) });
    // Its requests keep their status; only the response is gone.
    expect(await findQueuedRequest(db, TENANT, queued[0]!.id)).toMatchObject({ effective_status: 'completed', status_code: 200, response_body: null });
  });
});
