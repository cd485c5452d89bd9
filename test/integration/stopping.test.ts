import { Client, Connection } from '@temporalio/client';
import { toFile } from 'openai';
import type OpenAI from 'openai';
import pg from 'pg';
import { RECONCILE_SCHEDULE_ID, RETENTION_SCHEDULE_ID } from '../../src/temporal/schedules';
import { chatLine, expectEachCustomIdOnce, readJsonl, TERMINAL, uploadJsonl, waitForBatch, type ResultLine } from '../support/batches';
import { startServiceUnderTest, type ServiceUnderTest } from '../support/serviceUnderTest';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';

const MODEL = 'sim-stopping-model';
const REQUESTS = 600;
/**
 * The Schedules' intervals here (RECONCILE_INTERVAL_SECONDS, RETENTION_INTERVAL_SECONDS): short, so
 * that their runs, not a trigger, are what the tests wait for. Each orchestrator sets its interval on
 * the namespace's Schedule when it starts, so the next test file's service sets its own.
 */
const RECONCILE_INTERVAL_S = 4;
const RETENTION_INTERVAL_S = 4;
/** What a pass may take beyond its interval: the scheduled workflow's start, its activity, and the test's polling. */
const PASS_MARGIN_MS = 4_000;

/**
 * Cancellation (a workflow signal, or a cancel request from the Temporal UI), expiry (the
 * completion-window timer), a workflow terminated from the Temporal UI (the reconciler Schedule), and
 * a file's expiry (the retention Schedule): one service for all.
 */
let sut: ServiceUnderTest;
let client: OpenAI;
let temporal: Client;

beforeAll(async () => {
  sut = await startServiceUnderTest({
    // Slow on purpose: 600 requests at 4 at a time take ~10 s, so a stop lands mid-batch.
    simulator: { models: [MODEL], capacity: 4, baseLatencyMs: 60 },
    env: {
      MAX_INFLIGHT_PER_BACKEND: '8',
      CHUNK_SIZE: '50',
      RECONCILE_INTERVAL_SECONDS: String(RECONCILE_INTERVAL_S),
      RETENTION_INTERVAL_SECONDS: String(RETENTION_INTERVAL_S),
    },
  });
  client = sut.client;
  temporal = new Client({ connection: await Connection.connect({ address: testStack().temporalAddress }) });
});

afterAll(async () => {
  await temporal?.connection.close();
  expect(await sut?.stop()).toBe(0);
});

describe('stopping a running batch', () => {
  const customIds = Array.from({ length: REQUESTS }, (_, i) => `job-${i}`);

  async function startBatch(window = '24h') {
    const input = await uploadJsonl(
      client,
      customIds.map((id) => chatLine(id, MODEL, `Work on ${id}`)),
    );
    const batch = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: window as '24h' });
    await waitForBatch(client, batch.id, (b) => b.request_counts!.completed >= 40, 60_000);
    return batch.id;
  }

  /**
   * Waits for the batch to end in `status`; then finished work is kept in the output file and the rest
   * is in the error file under `code`, each custom_id once, in input order, counted as failed.
   */
  async function endsWithPartialResults(batchId: string, status: 'cancelled' | 'expired' | 'failed', code: string): Promise<OpenAI.Batch> {
    const batch = await waitForBatch(client, batchId, (b) => TERMINAL.includes(b.status), 60_000);
    expect(batch.status).toBe(status);
    expect(batch[`${status}_at`]).toEqual(expect.any(Number));
    const output = await readJsonl(client, batch.output_file_id);
    const errors = await readJsonl(client, batch.error_file_id);
    expectEachCustomIdOnce(customIds, output, errors);
    const order = (lines: ResultLine[]) => lines.map((l) => customIds.indexOf(l.custom_id));
    expect(order(output)).toEqual([...order(output)].sort((a, b) => a - b));
    expect(order(errors)).toEqual([...order(errors)].sort((a, b) => a - b));
    expect(output.length).toBeGreaterThanOrEqual(40);
    expect(errors.length).toBeGreaterThan(0);
    for (const line of output) expect(line.response!.status_code).toBe(200);
    for (const line of errors) expect(line).toMatchObject({ response: null, error: { code } });
    expect(batch.request_counts).toEqual({ total: REQUESTS, completed: output.length, failed: errors.length });
    return batch;
  }

  test('cancel: cancelling, then cancelled with finished results kept and the rest batch_cancelled', async () => {
    const batchId = await startBatch();
    const cancelledAt = Date.now();
    const cancelling = await client.batches.cancel(batchId);
    expect(cancelling.status).toBe('cancelling');
    expect(cancelling.cancelling_at).toEqual(expect.any(Number));

    const batch = await endsWithPartialResults(batchId, 'cancelled', 'batch_cancelled');
    console.log(`cancel: ${Date.now() - cancelledAt} ms from cancel request to status cancelled`);
    expect(batch.completed_at).toBeNull();

    // Terminal means final: a second cancel is refused, OpenAI-shaped.
    await expect(client.batches.cancel(batchId)).rejects.toMatchObject({ status: 409, code: 'batch_not_cancellable' });
  });

  test('a cancel request from the Temporal UI or CLI (a workflow cancel, not the signal) ends the batch as POST /cancel does', async () => {
    const batchId = await startBatch();
    await temporal.workflow.getHandle(batchId).cancel();
    const batch = await endsWithPartialResults(batchId, 'cancelled', 'batch_cancelled');
    expect(batch.cancelling_at).toEqual(expect.any(Number));
  });

  test(`a workflow terminated from the Temporal UI: the reconciler Schedule, every ${RECONCILE_INTERVAL_S} s, finishes the batch as failed within that, with its files`, async () => {
    const schedule = temporal.schedule.getHandle(RECONCILE_SCHEDULE_ID);
    expect(await schedule.describe()).toMatchObject({
      action: { type: 'startWorkflow', workflowType: 'reconcileWorkflow' },
      spec: { intervals: [{ every: RECONCILE_INTERVAL_S * 1000 }] },
    });
    const batchId = await startBatch();
    await temporal.workflow.getHandle(batchId).terminate('an operator clicked Terminate');
    const terminatedAt = Date.now();
    // Nothing else finishes it: the Schedule's next run, not a trigger, must.
    await waitForBatch(client, batchId, (b) => TERMINAL.includes(b.status), RECONCILE_INTERVAL_S * 1000 + PASS_MARGIN_MS);
    console.log(`reconcile: a terminated batch finished ${Date.now() - terminatedAt} ms after its workflow was terminated (interval ${RECONCILE_INTERVAL_S} s)`);
    await endsWithPartialResults(batchId, 'failed', 'batch_failed');
  });

  test('expiry: the completion window ends the batch as expired, unfinished requests batch_expired', async () => {
    const batchId = await startBatch('4s');
    const batch = await endsWithPartialResults(batchId, 'expired', 'batch_expired');
    expect(batch.expired_at! - batch.created_at).toBeGreaterThanOrEqual(4);
  });
});

describe('the retention Schedule', () => {
  let db: pg.Client;

  beforeAll(async () => {
    db = new pg.Client({ connectionString: testStack().databaseUrl });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
  });

  test(`deletes a file once it has expired, by itself, within its interval (${RETENTION_INTERVAL_S} s)`, async () => {
    expect(await temporal.schedule.getHandle(RETENTION_SCHEDULE_ID).describe()).toMatchObject({
      action: { type: 'startWorkflow', workflowType: 'retentionWorkflow' },
      spec: { intervals: [{ every: RETENTION_INTERVAL_S * 1000 }] },
    });
    const file = await client.files.create({
      file: await toFile(Buffer.from(chatLine('kept-an-hour', MODEL, 'hello') + '\n'), 'expiring.jsonl'),
      purpose: 'batch',
      expires_after: { anchor: 'created_at', seconds: 3600 },
    });
    expect(file.expires_at).toBe(file.created_at + 3600);
    // The hour passes: its expiry brought to now, as the clock would (an hour is the shortest allowed).
    await db.query(`UPDATE files SET expires_at = now() WHERE id = $1`, [file.id]);
    const expiredAt = Date.now();
    await waitFor(
      () =>
        client.files.retrieve(file.id).then(
          () => false,
          (err: { status?: number }) => err.status === 404,
        ),
      { timeoutMs: RETENTION_INTERVAL_S * 1000 + PASS_MARGIN_MS, intervalMs: 250, what: 'the retention Schedule to delete the expired file' },
    );
    console.log(`retention: an expired file was deleted ${Date.now() - expiredAt} ms after it expired (interval ${RETENTION_INTERVAL_S} s)`);
    // Deleted, as DELETE /v1/files does: its content gone, its row kept as a list cursor.
    const { rows } = await db.query<{ deleted: boolean; parts: number }>(
      `SELECT deleted_at IS NOT NULL AS deleted, (SELECT count(*)::int FROM file_parts WHERE file_id = $1) AS parts FROM files WHERE id = $1`,
      [file.id],
    );
    expect(rows).toEqual([{ deleted: true, parts: 0 }]);
  });
});
