import crypto from 'node:crypto';
import { Client, Connection, WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import { cancelBatch, type CancelOutcome } from '../../src/batches/cancel';
import type { Db } from '../../src/db/pool';
import type { TerminalStatus } from '../../src/states/batch';
import { findBatchById, transitionBatch, type BatchRow } from '../../src/store/batches';
import { cancelSignal } from '../../src/temporal/definitions';
import { workflowGateway, type WorkflowGateway } from '../../src/temporal/gateway';
import type { batchWorkflow } from '../../src/workflows/batch';
import { chatLine } from '../support/batches';
import { announceModels, batchOfLines, checkpoint, connectTestDb, holdTransition, planLimits, plannedBatch, uniqueTenant, waitUntilBlocking } from '../support/fixtures';
import { indexHead } from '../../src/pipeline/plan';
import { testStack } from '../support/stack';

/**
 * cancelBatch on the real PostgreSQL with the real workflow gateway on the stack's Temporal server.
 * Each batch's workflow is started for real under the batch's ID, on a task queue of this file that
 * no worker polls: it stays open and records every signal in its history, which is what is checked.
 */

const TENANT = uniqueTenant('cancel');
const OTHER_TENANT = uniqueTenant('cancel-other');
const MODEL = `component-cancel-model-${crypto.randomUUID()}`;
const TASK_QUEUE = `component-cancel-${crypto.randomUUID()}`;

describe('cancelBatch', () => {
  let db: Db;
  let withdraw: () => Promise<void>;
  let connection: Connection;
  let client: Client;
  let workflows: WorkflowGateway;
  const started: WorkflowHandle[] = [];

  beforeAll(async () => {
    db = await connectTestDb();
    withdraw = await announceModels(db, [MODEL]);
    connection = await Connection.connect({ address: testStack().temporalAddress });
    client = new Client({ connection });
    workflows = workflowGateway(client);
  });

  afterAll(async () => {
    await Promise.all(started.map((h) => h.terminate('component test done').catch(() => undefined)));
    await connection?.close();
    await withdraw?.();
    await db?.end();
  });

  const cancel = (tenantId: string, batchId: string): Promise<CancelOutcome> => cancelBatch({ db, workflows }, tenantId, batchId);
  const status = async (batchId: string) => (await findBatchById(db, batchId))!.status;

  async function withWorkflow(batch: BatchRow): Promise<BatchRow> {
    const handle = await client.workflow.start<typeof batchWorkflow>('batchWorkflow', {
      taskQueue: TASK_QUEUE,
      workflowId: batch.id,
      args: [{ batchId: batch.id, expiresAtMs: batch.expires_at.getTime(), webhookEvents: [] }],
    });
    started.push(handle);
    return batch;
  }

  /** Cancel signals the batch's workflow received, from its history on the server. */
  async function cancelSignals(batchId: string): Promise<number> {
    const history = await client.workflow.getHandle(batchId).fetchHistory();
    return (history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === cancelSignal.name).length;
  }

  const running = async (tenantId = TENANT) => (await plannedBatch(db, tenantId, [chatLine('a', MODEL, 'hi'), chatLine('b', MODEL, 'there')])).batch;
  const validating = (tenantId = TENANT) => batchOfLines(db, tenantId, [chatLine('a', MODEL, 'hi')]);

  test('another tenant’s batch is not found, exactly like one that does not exist, and is left running', async () => {
    const theirs = await withWorkflow(await running(OTHER_TENANT));
    await expect(cancel(TENANT, theirs.id)).resolves.toEqual({ kind: 'not_found' });
    await expect(cancel(TENANT, 'batch_does_not_exist')).resolves.toEqual({ kind: 'not_found' });
    expect(await status(theirs.id)).toBe('in_progress');
    expect(await cancelSignals(theirs.id)).toBe(0);
  });

  test('a running batch moves to cancelling and its workflow is signalled; a repeated cancel signals again', async () => {
    const batch = await withWorkflow(await running());
    const outcome = await cancel(TENANT, batch.id);
    expect(outcome.kind).toBe('cancelling');
    const moved = (outcome as Extract<CancelOutcome, { kind: 'cancelling' }>).batch;
    expect(moved).toMatchObject({ id: batch.id, tenant_id: TENANT, status: 'cancelling', cancelled_at: null });
    expect(moved.cancelling_at).toBeInstanceOf(Date);
    expect(await findBatchById(db, batch.id)).toEqual(moved);
    expect(await cancelSignals(batch.id)).toBe(1);

    // In case the first signal was lost between the status update and the send.
    await expect(cancel(TENANT, batch.id)).resolves.toEqual({ kind: 'cancelling', batch: moved });
    expect(await cancelSignals(batch.id)).toBe(2);
  });

  test('a batch still validating is cancelled at once (and its workflow told), dropping what its head ran', async () => {
    const batch = await withWorkflow(await validating());
    // Its first chunk ran while it validated (the head start).
    await expect(indexHead(db, batch.id, planLimits(), { chunks: 1 })).resolves.toMatchObject({ chunks: 1 });
    await expect(checkpoint(db, batch.id, [{ lineNo: 1, status: 200, tokens: [2, 3] }])).resolves.toBe(1);
    const outcome = await cancel(TENANT, batch.id);
    expect(outcome).toMatchObject({ kind: 'cancelling', batch: { id: batch.id, status: 'cancelled', cancelling_at: null } });
    expect((outcome as Extract<CancelOutcome, { kind: 'cancelling' }>).batch.cancelled_at).toBeInstanceOf(Date);
    expect(await status(batch.id)).toBe('cancelled');
    expect(await cancelSignals(batch.id)).toBe(1);
    expect(await findBatchById(db, batch.id)).toMatchObject({ completed_requests: 0, input_tokens: 0, output_tokens: 0 });
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM batch_results WHERE batch_id = $1', [batch.id]);
    expect(rows[0]!.n).toBe(0);
  });

  const terminal: Array<[TerminalStatus, () => Promise<BatchRow>]> = [
    [
      'completed',
      async () => {
        const batch = await running();
        await transitionBatch(db, batch.id, 'finalizing');
        return (await transitionBatch(db, batch.id, 'completed'))!;
      },
    ],
    ['failed', async () => (await transitionBatch(db, (await validating()).id, 'failed', { errors: [] }))!],
    ['expired', async () => (await transitionBatch(db, (await running()).id, 'expired'))!],
    ['cancelled', async () => (await transitionBatch(db, (await validating()).id, 'cancelled'))!],
  ];
  test.each(terminal)('status %s: not cancellable, the batch unchanged, its workflow not signalled', async (terminalStatus, make) => {
    const batch = await withWorkflow(await make());
    expect(batch.status).toBe(terminalStatus);
    await expect(cancel(TENANT, batch.id)).resolves.toEqual({ kind: 'not_cancellable', batch });
    expect(await findBatchById(db, batch.id)).toEqual(batch);
    expect(await cancelSignals(batch.id)).toBe(0);
  });

  test('a finalizing batch is not cancellable either: its files are being written', async () => {
    const batch = await withWorkflow((await transitionBatch(db, (await running()).id, 'finalizing'))!);
    await expect(cancel(TENANT, batch.id)).resolves.toEqual({ kind: 'not_cancellable', batch });
    expect(await cancelSignals(batch.id)).toBe(0);
  });

  test('a running batch whose workflow does not exist still moves to cancelling: nothing is left to signal', async () => {
    const batch = await running();
    await expect(client.workflow.getHandle(batch.id).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
    await expect(cancel(TENANT, batch.id)).resolves.toMatchObject({ kind: 'cancelling', batch: { status: 'cancelling' } });
    expect(await status(batch.id)).toBe('cancelling');
  });

  test('a running batch whose workflow already ended (terminated by hand) still moves to cancelling', async () => {
    const batch = await withWorkflow(await running());
    await client.workflow.getHandle(batch.id).terminate('operator');
    await expect(cancel(TENANT, batch.id)).resolves.toMatchObject({ kind: 'cancelling', batch: { status: 'cancelling' } });
    expect(await cancelSignals(batch.id)).toBe(0);
  });

  describe('a batch that moves on while the cancel is under way', () => {
    test('validation finishing first: the cancel falls through to cancelling the running batch', async () => {
      const batch = await withWorkflow(await validating());
      const started = await holdTransition(db, batch.id, 'in_progress', { model: MODEL, chunk_count: 1, total_requests: 1 });
      const outcome = cancel(TENANT, batch.id);
      try {
        await waitUntilBlocking(db, started.pid, 'the cancel to wait on the batch row');
      } finally {
        await started.commit();
      }
      await expect(outcome).resolves.toMatchObject({ kind: 'cancelling', batch: { status: 'cancelling', cancelled_at: null } });
      expect(await status(batch.id)).toBe('cancelling');
      expect(await cancelSignals(batch.id)).toBe(1);
    });

    test('the workflow finalizing first: not cancellable, and the batch left finalizing', async () => {
      const batch = await withWorkflow(await running());
      const finalizing = await holdTransition(db, batch.id, 'finalizing');
      const outcome = cancel(TENANT, batch.id);
      try {
        await waitUntilBlocking(db, finalizing.pid, 'the cancel to wait on the batch row');
      } finally {
        await finalizing.commit();
      }
      await expect(outcome).resolves.toMatchObject({ kind: 'not_cancellable', batch: { status: 'finalizing', cancelling_at: null } });
      expect(await status(batch.id)).toBe('finalizing');
      expect(await cancelSignals(batch.id)).toBe(0);
    });
  });
});
