import { Client, Connection } from '@temporalio/client';
import type OpenAI from 'openai';
import { RECONCILE_SCHEDULE_ID } from '../../src/temporal/schedules';
import { chatLine, expectEachCustomIdOnce, readJsonl, TERMINAL, uploadJsonl, waitForBatch, type ResultLine } from '../support/batches';
import { startServiceUnderTest, type ServiceUnderTest } from '../support/serviceUnderTest';
import { testStack } from '../support/stack';

const MODEL = 'sim-stopping-model';
const REQUESTS = 600;

/**
 * Cancellation (a workflow signal, or a cancel request from the Temporal UI), expiry (the
 * completion-window timer), and a workflow terminated from the Temporal UI (the reconciler).
 */
describe('stopping a running batch', () => {
  let sut: ServiceUnderTest;
  let client: OpenAI;
  let temporal: Client;
  const customIds = Array.from({ length: REQUESTS }, (_, i) => `job-${i}`);

  beforeAll(async () => {
    sut = await startServiceUnderTest({
      // Slow on purpose: 600 requests at 4 at a time take ~10 s, so a stop lands mid-batch.
      simulator: { models: [MODEL], capacity: 4, baseLatencyMs: 60 },
      env: { MAX_INFLIGHT_PER_BACKEND: '8', CHUNK_SIZE: '50' },
    });
    client = sut.client;
    temporal = new Client({ connection: await Connection.connect({ address: testStack().temporalAddress }) });
  });

  afterAll(async () => {
    await temporal?.connection.close();
    expect(await sut?.stop()).toBe(0);
  });

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

  test('a workflow terminated from the Temporal UI: the reconciler Schedule finishes the batch as failed, with its files', async () => {
    const batchId = await startBatch();
    await temporal.workflow.getHandle(batchId).terminate('an operator clicked Terminate');
    // Nothing else would ever finish it; the Schedule runs every RECONCILE_INTERVAL_SECONDS, or now when triggered (as from the UI).
    const schedule = temporal.schedule.getHandle(RECONCILE_SCHEDULE_ID);
    expect((await schedule.describe()).action).toMatchObject({ type: 'startWorkflow', workflowType: 'reconcileWorkflow' });
    await schedule.trigger();
    await endsWithPartialResults(batchId, 'failed', 'batch_failed');
  });

  test('expiry: the completion window ends the batch as expired, unfinished requests batch_expired', async () => {
    const batchId = await startBatch('4s');
    const batch = await endsWithPartialResults(batchId, 'expired', 'batch_expired');
    expect(batch.expired_at! - batch.created_at).toBeGreaterThanOrEqual(4);
  });
});
