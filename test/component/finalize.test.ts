import crypto from 'node:crypto';
import { finalizeBatch } from '../../src/pipeline/finalize';
import type { Db } from '../../src/db/pool';
import { batchRequestId } from '../../src/ids';
import type { FinalizeOutcome } from '../../src/states/batch';
import { toBatchObject } from '../../src/batches/object';
import { resultFilesOf, writeChunkLines, writeFinishedChunk } from '../../src/pipeline/resultFiles';
import { findBatchById, sealBatch, transitionBatch, type BatchRow } from '../../src/store/batches';
import { findFile, listFiles } from '../../src/store/files';
import { insertPlannedRequests } from '../../src/store/requests';
import { chatLine, expectEachCustomIdOnce } from '../support/batches';
import {
  announceModels,
  batchOfLines,
  checkpoint,
  connectTestDb,
  plannedBatch,
  readFileText,
  readResultFile,
  requestsWithResults,
  uniqueTenant,
  type LineOutcome,
} from '../support/fixtures';

/**
 * finalizeBatch on the real PostgreSQL: batches planned by the real validateAndPlan, results
 * checkpointed through the real store as chunks write them, files read back as the API streams them.
 */

const TENANT = uniqueTenant('finalize');
const MODEL = `component-finalize-model-${crypto.randomUUID()}`;

const ids = (n: number, prefix = 'req') => Array.from({ length: n }, (_, i) => `${prefix}-${i + 1}`);
const linesOf = (customIds: string[]) => customIds.map((id) => chatLine(id, MODEL, `hello ${id}`));

describe('finalizeBatch', () => {
  let db: Db;
  let withdraw: () => Promise<void>;

  beforeAll(async () => {
    db = await connectTestDb();
    withdraw = await announceModels(db, [MODEL]);
  });

  afterAll(async () => {
    await withdraw?.();
    await db?.end();
  });

  const chunkFileRows = async (batchId: string) =>
    (
      await db.query<{ chunk_no: number; output_bytes: number; written_at: Date }>(
        `SELECT chunk_no, output_bytes, written_at FROM batch_chunk_files WHERE batch_id = $1 ORDER BY chunk_no`,
        [batchId],
      )
    ).rows;
  const fileRowExists = async (fileId: string) => (await db.query(`SELECT 1 FROM files WHERE id = $1`, [fileId])).rowCount === 1;
  const outputFiles = async () => (await listFiles(db, TENANT, { purpose: 'batch_output', limit: 10_000, order: 'asc' }))!.map((f) => f.id);

  test('completed: every custom_id once, in input order across chunks; 2xx in the output file, the rest in the error file', async () => {
    // 2,400 requests with blank lines among them, in 4 chunks of 700, each written in pages of 100 rows.
    const customIds = ids(2_400);
    const lines = linesOf(customIds);
    lines.splice(500, 0, '');
    lines.splice(1_700, 0, '', '');
    const { batch } = await plannedBatch(db, TENANT, lines, { chunkSize: 700 });
    const index = await requestsWithResults(db, batch.id);
    expect(index).toHaveLength(2_400);
    const outcomes: LineOutcome[] = index.map(({ line_no }, i) => {
      if (i % 97 === 5) return { lineNo: line_no, status: 400, body: { error: { message: 'bad', type: 'invalid_request_error' } } };
      if (i % 101 === 7) return { lineNo: line_no, error: 'server_error', message: 'backend answered 500 (gave up after 6 attempts)' };
      return { lineNo: line_no, status: 200, body: { object: 'chat.completion', n: i }, tokens: [3, 5] };
    });
    // Checkpointed out of order, as concurrent chunks flush.
    await checkpoint(
      db,
      batch.id,
      outcomes.filter((_, i) => i % 2 === 1),
    );
    await checkpoint(
      db,
      batch.id,
      outcomes.filter((_, i) => i % 2 === 0),
    );
    const chunksWritten: number[] = [];

    const done = await finalizeBatch(db, batch.id, 'completed', (n) => chunksWritten.push(n));

    // No chunk ran here to write its own lines: finalize wrote all four, in order.
    expect(chunksWritten).toEqual([1, 2, 3, 4]);
    const failedIndexes = outcomes.flatMap((o, i) => ('error' in o || o.status !== 200 ? [i] : []));
    expect(failedIndexes.length).toBeGreaterThan(40);
    expect(done).toMatchObject({ status: 'completed', completed_requests: 2_400 - failedIndexes.length, failed_requests: failedIndexes.length });
    expect(done.finalizing_at).toBeInstanceOf(Date);
    expect(done.completed_at).toBeInstanceOf(Date);
    expect(done.completed_at!.getTime()).toBeGreaterThanOrEqual(done.finalizing_at!.getTime());
    expect(await findBatchById(db, batch.id)).toEqual(done);

    const output = await readResultFile(db, done.output_file_id);
    const errors = await readResultFile(db, done.error_file_id);
    expectEachCustomIdOnce(customIds, output, errors);
    expect(output.map((l) => l.custom_id)).toEqual(customIds.filter((_, i) => !failedIndexes.includes(i)));
    expect(errors.map((l) => l.custom_id)).toEqual(failedIndexes.map((i) => customIds[i]));

    const lineNoOf = new Map(index.map((r) => [r.custom_id, r.line_no]));
    const first = output[0]!;
    expect(first).toEqual({
      id: batchRequestId(batch.id, 1),
      custom_id: 'req-1',
      response: { status_code: 200, request_id: batchRequestId(batch.id, 1), body: { object: 'chat.completion', n: 0 } },
      error: null,
    });
    for (const line of output) expect(line.id).toBe(batchRequestId(batch.id, lineNoOf.get(line.custom_id)!));
    const rejected = errors.find((l) => l.response !== null)!;
    expect(rejected.response).toMatchObject({ status_code: 400, body: { error: { message: 'bad' } } });
    expect(rejected.error).toBeNull();
    const unanswered = errors.find((l) => l.response === null)!;
    expect(unanswered.error).toEqual({ code: 'server_error', message: 'backend answered 500 (gave up after 6 attempts)' });

    // The files are the tenant's, complete, and what their rows say.
    for (const [fileId, kind] of [
      [done.output_file_id!, 'output'],
      [done.error_file_id!, 'error'],
    ] as const) {
      const file = (await findFile(db, TENANT, fileId))!;
      expect(file).toMatchObject({ purpose: 'batch_output', status: 'processed', filename: `${batch.id}_${kind}.jsonl` });
      expect(file.bytes).toBe(Buffer.byteLength(await readFileText(db, fileId)));
    }
  });

  test('completed with no failure: no error file at all', async () => {
    const customIds = ids(3);
    const { batch } = await plannedBatch(db, TENANT, linesOf(customIds));
    await checkpoint(
      db,
      batch.id,
      [1, 2, 3].map((lineNo) => ({ lineNo, status: 200 })),
    );
    const filesBefore = await outputFiles();
    const done = await finalizeBatch(db, batch.id, 'completed');
    expect(done).toMatchObject({ status: 'completed', error_file_id: null, completed_requests: 3, failed_requests: 0 });
    expect((await readResultFile(db, done.output_file_id)).map((l) => l.custom_id)).toEqual(customIds);
    expect(await outputFiles()).toEqual([...filesBefore, done.output_file_id]);
  });

  test('a retry after a crash mid-finalize resumes with the chunks still missing: what was written stays as it was', async () => {
    const customIds = ids(6, 'retry');
    const { batch } = await plannedBatch(db, TENANT, linesOf(customIds), { chunkSize: 2 });
    await checkpoint(
      db,
      batch.id,
      [1, 2, 3, 4, 5, 6].map((lineNo) => ({ lineNo, status: 200 })),
    );
    // The first attempt moved the batch to finalizing, sealed it, wrote chunk 1 and died.
    await transitionBatch(db, batch.id, 'finalizing');
    await sealBatch(db, batch.id, 'completed');
    const files = (await resultFilesOf(db, batch.id, { whileRunning: false }))!;
    await expect(writeChunkLines(db, batch.id, 1, files, 'batch_failed')).resolves.toBe('written');
    const before = await chunkFileRows(batch.id);
    expect(before.map((c) => c.chunk_no)).toEqual([1]);
    const filesBefore = await outputFiles();

    const chunksWritten: number[] = [];
    const done = await finalizeBatch(db, batch.id, 'completed', (n) => chunksWritten.push(n));

    expect(chunksWritten).toEqual([1, 2]);
    expect(done).toMatchObject({ status: 'completed', completed_requests: 6, failed_requests: 0, error_file_id: null, output_file_id: files.output });
    expect((await readResultFile(db, done.output_file_id)).map((l) => l.custom_id)).toEqual(customIds);
    const after = await chunkFileRows(batch.id);
    expect(after.map((c) => c.chunk_no)).toEqual([0, 1, 2]);
    expect(after[1]).toEqual(before[0]);
    // The empty error file is gone, and the output file appeared once.
    expect(await fileRowExists(files.error)).toBe(false);
    expect(await outputFiles()).toEqual([...filesBefore, done.output_file_id]);
  });

  test('while the batch runs, chunks write their own finished lines, invisibly; once sealed, nothing more is stored', async () => {
    const customIds = ids(4, 'running');
    const { batch } = await plannedBatch(db, TENANT, linesOf(customIds), { chunkSize: 2 });
    await checkpoint(db, batch.id, [
      { lineNo: 1, status: 200 },
      { lineNo: 2, status: 500 },
      { lineNo: 3, status: 200 },
    ]);
    await expect(writeFinishedChunk(db, batch.id, 0)).resolves.toBe('written');
    await expect(writeFinishedChunk(db, batch.id, 0)).resolves.toBe('already_written');
    await expect(writeFinishedChunk(db, batch.id, 1)).resolves.toBe('unfinished');

    // The files exist, written, but neither the batch object nor the files API shows them yet.
    const running = (await findBatchById(db, batch.id))!;
    expect(running.output_file_id).toEqual(expect.any(String));
    expect(toBatchObject(running)).toMatchObject({ status: 'in_progress', output_file_id: null, error_file_id: null });
    expect(await findFile(db, TENANT, running.output_file_id!)).toBeUndefined();
    expect(await outputFiles()).not.toContain(running.output_file_id);

    // Finalize seals the batch first: a result arriving after that is refused, and the batch may only end as sealed.
    await sealBatch(db, batch.id, 'expired');
    await expect(checkpoint(db, batch.id, [{ lineNo: 4, status: 200 }])).resolves.toBe(0);
    await expect(writeFinishedChunk(db, batch.id, 1)).resolves.toBe('unfinished');
    expect(await transitionBatch(db, batch.id, 'cancelling')).toBeUndefined();

    const done = await finalizeBatch(db, batch.id, 'completed');
    expect(done).toMatchObject({ status: 'expired', completed_requests: 2, failed_requests: 2, output_file_id: running.output_file_id });
    expect((await readResultFile(db, done.output_file_id)).map((l) => l.custom_id)).toEqual(['running-1', 'running-3']);
    expect((await readResultFile(db, done.error_file_id)).map((l) => [l.custom_id, l.response?.status_code ?? l.error?.code])).toEqual([
      ['running-2', 500],
      ['running-4', 'batch_expired'],
    ]);
    expect(toBatchObject(done)).toMatchObject({ output_file_id: done.output_file_id, error_file_id: done.error_file_id });
  });

  describe.each<[Exclude<FinalizeOutcome, 'completed'>, string]>([
    ['cancelled', 'batch_cancelled'],
    ['expired', 'batch_expired'],
    ['failed', 'batch_failed'],
  ])('%s', (outcome, neverExecutedCode) => {
    /** Five requests: 1 and 4 answered 200, 2 answered 400, 3 and 5 never ran. */
    async function partlyRun(): Promise<{ batch: BatchRow; customIds: string[] }> {
      const customIds = ids(5, outcome);
      const { batch } = await plannedBatch(db, TENANT, linesOf(customIds));
      await checkpoint(db, batch.id, [
        { lineNo: 1, status: 200 },
        { lineNo: 2, status: 400 },
        { lineNo: 4, status: 200 },
      ]);
      return { batch, customIds };
    }

    test(`unexecuted lines land in the error file as ${neverExecutedCode}, in input order, and count as failed`, async () => {
      const { batch, customIds } = await partlyRun();
      if (outcome === 'cancelled') await transitionBatch(db, batch.id, 'cancelling');
      const done = await finalizeBatch(db, batch.id, outcome);

      expect(done).toMatchObject({ status: outcome, completed_requests: 2, failed_requests: 3, total_requests: 5, finalizing_at: null });
      expect(done[`${outcome}_at`]).toBeInstanceOf(Date);
      const output = await readResultFile(db, done.output_file_id);
      const errors = await readResultFile(db, done.error_file_id);
      expectEachCustomIdOnce(customIds, output, errors);
      expect(output.map((l) => l.custom_id)).toEqual([customIds[0], customIds[3]]);
      expect(errors.map((l) => [l.custom_id, l.response?.status_code ?? null, l.error?.code ?? null])).toEqual([
        [customIds[1], 400, null],
        [customIds[2], null, neverExecutedCode],
        [customIds[4], null, neverExecutedCode],
      ]);
      expect(errors[1]!.error!.message).toMatch({ cancelled: /cancelled/, expired: /completion window expired/, failed: /the batch failed/ }[outcome]);
      expect(errors[1]!.id).toBe(batchRequestId(batch.id, 3));

      // A chunk straggling in after the end can add nothing the files would miss.
      await expect(checkpoint(db, batch.id, [{ lineNo: 3, status: 200 }])).resolves.toBe(0);
      expect(await findBatchById(db, batch.id)).toEqual(done);
    });

    test('running it twice is idempotent: the same batch, the same files, no new file', async () => {
      const { batch } = await partlyRun();
      const first = await finalizeBatch(db, batch.id, outcome);
      const filesAfterFirst = await outputFiles();
      const contents = [await readFileText(db, first.output_file_id!), await readFileText(db, first.error_file_id!)];
      const second = await finalizeBatch(db, batch.id, outcome);
      expect(second).toEqual(first);
      expect(await outputFiles()).toEqual(filesAfterFirst);
      expect([await readFileText(db, second.output_file_id!), await readFileText(db, second.error_file_id!)]).toEqual(contents);
    });
  });

  test('a batch the user is cancelling ends cancelled, whatever the workflow finalizes it for', async () => {
    const customIds = ids(3, 'racing');
    const { batch } = await plannedBatch(db, TENANT, linesOf(customIds));
    await checkpoint(db, batch.id, [
      { lineNo: 1, status: 200 },
      { lineNo: 2, status: 200 },
    ]);
    await transitionBatch(db, batch.id, 'cancelling');
    const done = await finalizeBatch(db, batch.id, 'completed');
    expect(done).toMatchObject({ status: 'cancelled', finalizing_at: null, completed_at: null, completed_requests: 2, failed_requests: 1 });
    expect((await readResultFile(db, done.error_file_id)).map((l) => [l.custom_id, l.error?.code])).toEqual([['racing-3', 'batch_cancelled']]);
  });

  test('cancelled straight from in_progress (a cancel signal sent from the Temporal UI) still passes through cancelling', async () => {
    const { batch } = await plannedBatch(db, TENANT, linesOf(ids(2, 'ui')));
    const done = await finalizeBatch(db, batch.id, 'cancelled');
    expect(done.status).toBe('cancelled');
    expect(done.cancelling_at).toBeInstanceOf(Date);
    expect(done).toMatchObject({ output_file_id: null, completed_requests: 0, failed_requests: 2 });
    expect((await readResultFile(db, done.error_file_id)).map((l) => l.error?.code)).toEqual(['batch_cancelled', 'batch_cancelled']);
  });

  test('a batch stopped while still validating ends without files, and its partial request index is dropped', async () => {
    const batch = await batchOfLines(db, TENANT, linesOf(ids(2, 'early')));
    // What validation had written when the window ran out.
    await insertPlannedRequests(db, batch.id, [{ lineNo: 1, chunkNo: 0, customId: 'early-1', body: JSON.stringify({ model: MODEL }) }]);
    const done = await finalizeBatch(db, batch.id, 'expired');
    expect(done).toMatchObject({ status: 'expired', output_file_id: null, error_file_id: null, total_requests: 0, failed_requests: 0 });
    expect(await requestsWithResults(db, batch.id)).toEqual([]);
  });

  test('a batch that does not exist is an error', async () => {
    await expect(finalizeBatch(db, 'batch_does_not_exist', 'expired')).rejects.toThrow('does not exist');
  });
});
