import { runChunk, type ChunkProgress, type ChunkReport } from '../../src/pipeline/chunk';
import { finalizeBatch } from '../../src/pipeline/finalize';
import type { Db } from '../../src/db/pool';
import { findBatchById } from '../../src/store/batches';
import { findPendingRequests } from '../../src/store/requests';
import { chatLine } from '../support/batches';
import {
  announceModels,
  connectTestDb,
  plannedBatch,
  readResultFile,
  requestsWithResults,
  simulatorRequests,
  SIMULATOR_MODEL,
  startInference,
  uniqueTenant,
  type TestInference,
} from '../support/fixtures';
import { waitFor } from '../support/wait';

/**
 * runChunk on the real PostgreSQL against the stack's simulator, through a real BackendPool and
 * InferenceClient built as the GPU worker builds them. Batches are planned by the real
 * validateAndPlan. The simulator's request counter (GET /sim/stats) says what reached the backend.
 */

const TENANT = uniqueTenant('chunk');
const ENDPOINT = '/v1/chat/completions';

const fast = (id: string, marker = '') => chatLine(id, SIMULATOR_MODEL, `say something ${id} ${marker}`);
/** The simulator charges 0.01 ms per prompt token (4 characters): this prompt takes it about 1.5 s. */
const slow = (id: string) => chatLine(id, SIMULATOR_MODEL, `${id} ${'long prompt '.repeat(50_000)}`);
/** Never answered by the simulator: such a request is in flight until it is aborted. */
const hanging = (id: string) => fast(id, '[[sim:hang]]');

describe('runChunk', () => {
  let db: Db;
  let backend: TestInference;
  let withdraw: () => Promise<void>;

  beforeAll(async () => {
    db = await connectTestDb();
    withdraw = await announceModels(db, [SIMULATOR_MODEL]);
    backend = await startInference();
  });

  afterAll(async () => {
    await backend?.stop();
    await withdraw?.();
    await db?.end();
  });

  function run(batchId: string, chunkNo: number, signal = new AbortController().signal, resultWriteRetryMs = 30_000) {
    const progress: ChunkProgress[] = [];
    const report: Promise<ChunkReport> = runChunk(
      { db, inference: backend.inference },
      { batchId, chunkNo, endpoint: ENDPOINT },
      { signal, onProgress: (p) => progress.push(p), stallTimeoutMs: 10_000, resultWriteRetryMs, claim: { priority: 3, key: TENANT } },
    );
    return { report, progress };
  }

  const counts = async (batchId: string) => {
    const b = (await findBatchById(db, batchId))!;
    return { completed: b.completed_requests, failed: b.failed_requests, input_tokens: b.input_tokens, output_tokens: b.output_tokens };
  };
  const storedLines = async (batchId: string) => (await requestsWithResults(db, batchId)).filter((r) => r.request_id !== null).map((r) => r.line_no);

  test('runs the pending requests of its chunk only, checkpointing each response with its usage in the counters', async () => {
    const { batch } = await plannedBatch(db, TENANT, [fast('a'), fast('b'), fast('c', '[[sim:400]]'), fast('d'), fast('e'), fast('f')], { chunkSize: 4 });
    const sentBefore = await simulatorRequests();
    const { report, progress } = run(batch.id, 0);
    await expect(report).resolves.toEqual({ executed: 4, lines: 'written' });

    expect((await simulatorRequests()) - sentBefore).toBe(4);
    expect(progress[0]).toEqual({ pending: 4, done: 0 });
    expect(progress.at(-1)).toEqual({ pending: 4, done: 4 });
    const rows = await requestsWithResults(db, batch.id);
    expect(rows.map((r) => [r.custom_id, r.status_code])).toEqual([
      ['a', 200],
      ['b', 200],
      ['c', 400],
      ['d', 200],
      ['e', null],
      ['f', null],
    ]);
    for (const row of rows.slice(0, 4)) expect(row.request_id).toEqual(expect.any(String));
    const bodies = rows.slice(0, 4).map((r) => JSON.parse(r.response_body!));
    for (const body of [bodies[0], bodies[1], bodies[3]]) expect(body).toMatchObject({ object: 'chat.completion', model: SIMULATOR_MODEL });
    expect(bodies[2]).toMatchObject({ error: { type: 'invalid_request_error' } });
    // Usage is summed from the responses themselves; the 400 has none.
    const usage = bodies.map((b) => (b.usage ?? { prompt_tokens: 0, completion_tokens: 0 }) as { prompt_tokens: number; completion_tokens: number });
    const expected = {
      completed: 3,
      failed: 1,
      input_tokens: usage.reduce((sum, u) => sum + u.prompt_tokens, 0),
      output_tokens: usage.reduce((sum, u) => sum + u.completion_tokens, 0),
    };
    expect(expected.input_tokens).toBeGreaterThan(0);
    expect(await counts(batch.id)).toEqual(expected);

    // The chunk again (a retried activity after its last flush): nothing is sent, nothing counted twice.
    const again = run(batch.id, 0);
    await expect(again.report).resolves.toEqual({ executed: 0, lines: 'already_written' });
    expect((await simulatorRequests()) - sentBefore).toBe(4);
    expect(await counts(batch.id)).toEqual(expected);

    // The other chunk completes the batch's counts: completed + failed = total.
    await expect(run(batch.id, 1).report).resolves.toEqual({ executed: 2, lines: 'written' });
    const final = await counts(batch.id);
    expect([final.completed, final.failed]).toEqual([5, 1]);
    expect(final.completed + final.failed).toBe((await findBatchById(db, batch.id))!.total_requests);

    // Each chunk wrote its own lines as it finished: finalize writes none, it only makes the files visible.
    const writtenByFinalize: number[] = [];
    const done = await finalizeBatch(db, batch.id, 'completed', (n) => writtenByFinalize.push(n));
    expect(writtenByFinalize).toEqual([]);
    expect((await readResultFile(db, done.output_file_id)).map((l) => [l.custom_id, l.response?.status_code])).toEqual([
      ['a', 200],
      ['b', 200],
      ['d', 200],
      ['e', 200],
      ['f', 200],
    ]);
    expect((await readResultFile(db, done.error_file_id)).map((l) => [l.custom_id, l.response?.status_code])).toEqual([['c', 400]]);
  });

  test('a second run after a partial one executes only what is missing: every result once, counts exact', async () => {
    const lines = [fast('p1'), slow('s1'), fast('p2'), fast('p3'), slow('s2'), fast('p4')];
    const { batch } = await plannedBatch(db, TENANT, lines);
    const firstAbort = new AbortController();
    const sentBefore = await simulatorRequests();
    const first = run(batch.id, 0, firstAbort.signal);
    first.report.catch(() => undefined);
    // The fast requests are checkpointed while the slow ones are still being served.
    await waitFor(async () => (await counts(batch.id)).completed === 4, { timeoutMs: 10_000, intervalMs: 25, what: 'the fast requests checkpointed' });
    firstAbort.abort(new Error('worker lost its lease'));
    await expect(first.report).rejects.toThrow('worker lost its lease');

    expect(await storedLines(batch.id)).toEqual([1, 3, 4, 6]);
    const afterFirst = await requestsWithResults(db, batch.id);
    expect((await simulatorRequests()) - sentBefore).toBe(6);
    expect((await findPendingRequests(db, batch.id, 0)).map((r) => r.custom_id)).toEqual(['s1', 's2']);

    const second = run(batch.id, 0);
    await expect(second.report).resolves.toEqual({ executed: 2, lines: 'written' });
    expect(second.progress[0]).toEqual({ pending: 2, done: 0 });
    expect((await simulatorRequests()) - sentBefore).toBe(6 + 2);

    const rows = await requestsWithResults(db, batch.id);
    expect(rows.map((r) => [r.custom_id, r.status_code])).toEqual(lines.map((_, i) => [['p1', 's1', 'p2', 'p3', 's2', 'p4'][i], 200]));
    // What the first run stored is kept as it was, not executed or written again.
    for (const line of [1, 3, 4, 6]) expect(rows[line - 1]).toEqual(afterFirst[line - 1]);
    const final = await counts(batch.id);
    expect([final.completed, final.failed]).toEqual([6, 0]);
  });

  test('an abort mid-chunk stops the requests in flight, rethrows its reason and keeps what finished', async () => {
    const lines = [fast('k1'), hanging('h1'), fast('k2'), fast('k3'), hanging('h2')];
    const { batch } = await plannedBatch(db, TENANT, lines);
    const abort = new AbortController();
    const { report, progress } = run(batch.id, 0, abort.signal);
    report.catch(() => undefined);
    await waitFor(async () => (await counts(batch.id)).completed === 3, { timeoutMs: 10_000, intervalMs: 25, what: 'the answered requests checkpointed' });
    const reason = new Error('activity cancelled');
    abort.abort(reason);
    await expect(report).rejects.toBe(reason);

    expect(progress.at(-1)).toEqual({ pending: 5, done: 3 });
    expect(await storedLines(batch.id)).toEqual([1, 3, 4]);
    expect((await findPendingRequests(db, batch.id, 0)).map((r) => r.custom_id)).toEqual(['h1', 'h2']);
    expect(await counts(batch.id)).toMatchObject({ completed: 3, failed: 0 });
    // The aborted requests freed their backend slots.
    expect(backend.pool.backends[0]!.slots.active).toBe(0);
  });

  describe("while PostgreSQL refuses the batch's result writes (a trigger raising on insert)", () => {
    const breakWrites = async (batchId: string) => {
      await db.query(`CREATE OR REPLACE FUNCTION refuse_results() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'results refused (test)'; END $$`);
      await db.query(`CREATE TRIGGER refuse_results BEFORE INSERT ON batch_results FOR EACH ROW WHEN (NEW.batch_id = '${batchId}') EXECUTE FUNCTION refuse_results()`);
    };
    const restoreWrites = () => db.query('DROP TRIGGER IF EXISTS refuse_results ON batch_results');
    afterEach(restoreWrites);

    test('finished results wait in memory and are stored once writes work again, nothing sent twice', async () => {
      const { batch } = await plannedBatch(db, TENANT, [fast('w1'), fast('w2'), fast('w3'), fast('w4')]);
      const sentBefore = await simulatorRequests();
      await breakWrites(batch.id);
      const brokenAt = Date.now();
      const { report } = run(batch.id, 0);
      report.catch(() => undefined);
      await waitFor(async () => (await simulatorRequests()) - sentBefore === 4, { timeoutMs: 10_000, what: 'the four requests answered' });
      // Refused for longer than the old fixed retries (~4 s) lasted, as a failover would.
      await waitFor(() => Date.now() - brokenAt >= 6_000, { timeoutMs: 10_000, intervalMs: 100, what: 'six seconds of refused writes' });
      expect(await counts(batch.id)).toMatchObject({ completed: 0 });
      await restoreWrites();

      await expect(report).resolves.toEqual({ executed: 4, lines: 'written' });
      expect(await storedLines(batch.id)).toEqual([1, 2, 3, 4]);
      expect(await counts(batch.id)).toMatchObject({ completed: 4, failed: 0 });
      expect((await simulatorRequests()) - sentBefore).toBe(4);
    });

    test('past RESULT_WRITE_RETRY_MS the chunk gives up with the write error, leaving its requests to its retry', async () => {
      const { batch } = await plannedBatch(db, TENANT, [fast('g1'), fast('g2')]);
      await breakWrites(batch.id);
      const { report } = run(batch.id, 0, undefined, 1_000);
      await expect(report).rejects.toThrow(/results refused \(test\)/);
      await restoreWrites();
      expect((await findPendingRequests(db, batch.id, 0)).map((r) => r.custom_id)).toEqual(['g1', 'g2']);
    });
  });
});
