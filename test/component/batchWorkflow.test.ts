import crypto from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { OrchestratorActivities, RunPlan } from '../../src/activities/orchestrator';
import type { InferenceActivities } from '../../src/activities/inference';
import type { FinalizeOutcome } from '../../src/states/batch';
import { cancelSignal, progressQuery } from '../../src/temporal/definitions';
import { inferenceTaskQueue } from '../../src/domain/taskQueues';
import { ensureSearchAttributes } from '../../src/temporal/registerSearchAttributes';
import type { batchWorkflow, BatchWorkflowInput } from '../../src/workflows/batch';
import { keepHistory as keepHistoryOf } from '../support/histories';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';

/**
 * The batch workflow on the real Temporal dev server, its activities replaced by scripted ones on
 * this test's own task queues: every phase a stop can land in, and continue-as-new. The domain
 * behind the real activities has its own tests; here only the orchestration is under test.
 */

type Script = {
  chunkCount: number;
  /** Runs inside the activity; returning resolves it. */
  validate?: () => Promise<void>;
  chunk?: (chunkNo: number) => Promise<void>;
  finalize?: () => Promise<void>;
  /** The plan's CHUNKS_IN_FLIGHT_PER_BATCH (default 50): the window's floor. */
  floor?: number;
  /** What each reading of the window (`chunkWindow`) answers; default null (no fleet reported: the floor). */
  window?: () => number | null;
  /** How many chunks the head (`indexHead`) can have ready to run while validating (all the file has, when asked for more); default none. */
  head?: number;
  /** Validation refuses the input (the plan `failed`) instead of planning it. */
  refused?: true;
};

/** Until the activity is cancelled (heartbeats deliver that), then throws as a cancelled activity does. */
async function untilCancelled(): Promise<never> {
  const context = Context.current();
  for (;;) {
    context.heartbeat();
    await context.sleep(50);
  }
}

describe('batch workflow on the real Temporal server', () => {
  const stack = testStack();
  const taskQueue = `component-batch-${crypto.randomUUID()}`;
  const model = `component-model-${crypto.randomUUID()}`;
  const scripts = new Map<string, Script>();
  const chunkRuns = new Map<string, number[]>();
  const finalized = new Map<string, FinalizeOutcome[]>();
  const phaseReached = new Map<string, Set<string>>();
  let connection: Connection;
  let client: Client;
  let nativeConnection: NativeConnection;
  let bundle: WorkflowBundleWithSourceMap;
  let workers: Worker[];
  let running: Promise<void>;

  const reached = (batchId: string, phase: string) => phaseReached.get(batchId)?.has(phase) ?? false;
  const mark = (batchId: string, phase: string) => {
    if (!phaseReached.has(batchId)) phaseReached.set(batchId, new Set());
    phaseReached.get(batchId)!.add(phase);
  };

  /** The readings of each batch's window, in order. */
  const readings = new Map<string, number[]>();
  const orchestrator: OrchestratorActivities = {
    chunkWindow(input) {
      const batchId = Context.current().info.workflowExecution!.workflowId;
      const answer = scripts.get(batchId)!.window?.() ?? null;
      readings.set(batchId, [...(readings.get(batchId) ?? []), answer ?? input.floor]);
      return Promise.resolve(answer);
    },
    indexHead(batchId, chunks) {
      const script = scripts.get(batchId)!;
      if (script.head === undefined) return Promise.resolve(null);
      const run = { chunksInFlight: script.floor ?? 50, chunkHeartbeatTimeoutMs: 10_000, chunkSize: 1 };
      const ready = Math.min(chunks, script.head);
      return Promise.resolve({ model, endpoint: '/v1/chat/completions', taskQueue: inferenceTaskQueue(model), chunks: ready, run });
    },
    async validateAndPlan(batchId): Promise<RunPlan> {
      const script = scripts.get(batchId)!;
      mark(batchId, 'validating');
      await script.validate?.();
      if (script.refused) return { outcome: 'failed' };
      return {
        outcome: 'in_progress',
        model,
        endpoint: '/v1/chat/completions',
        chunkCount: script.chunkCount,
        totalRequests: script.chunkCount,
        run: { chunksInFlight: script.floor ?? 50, chunkHeartbeatTimeoutMs: 10_000, chunkSize: 1 },
      };
    },
    async finalizeBatch(batchId, outcome) {
      mark(batchId, 'finalizing');
      await scripts.get(batchId)!.finalize?.();
      finalized.set(batchId, [...(finalized.get(batchId) ?? []), outcome]);
      return outcome;
    },
  };
  const inference: InferenceActivities = {
    async processChunk({ batchId, chunkNo }) {
      mark(batchId, 'in_progress');
      await scripts.get(batchId)!.chunk?.(chunkNo);
      chunkRuns.set(batchId, [...(chunkRuns.get(batchId) ?? []), chunkNo]);
      return { executed: 1, lines: 'written' };
    },
  };

  beforeAll(async () => {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
    connection = await Connection.connect({ address: stack.temporalAddress });
    client = new Client({ connection });
    await ensureSearchAttributes(connection, 'default');
    nativeConnection = await NativeConnection.connect({ address: stack.temporalAddress });
    bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows'), logger: new DefaultLogger('ERROR') });
    // Heartbeats reach the server at least every second, so a cancel reaches an activity promptly.
    const common = { connection: nativeConnection, maxHeartbeatThrottleInterval: '1 second' } as const;
    workers = [
      await Worker.create({ ...common, taskQueue, workflowBundle: bundle, activities: orchestrator }),
      await Worker.create({ ...common, taskQueue: inferenceTaskQueue(model), activities: inference }),
    ];
    running = Promise.all(workers.map((w) => w.run())).then(() => undefined);
  });

  afterAll(async () => {
    for (const worker of workers ?? []) worker.shutdown();
    await running;
    await nativeConnection?.close();
    await connection?.close();
  });

  /** Kept for the replay test under `batch-<name>.json` when capturing (test/support/histories.ts). */
  const keepHistory = (name: string, handle: WorkflowHandle, runId?: string) => keepHistoryOf(client, `batch-${name}`, handle.workflowId, runId);

  function start(script: Script, windowMs = 3_600_000) {
    const batchId = `batch_${crypto.randomBytes(16).toString('hex')}`;
    scripts.set(batchId, script);
    const input: BatchWorkflowInput = { batchId, expiresAtMs: Date.now() + windowMs, webhookEvents: [] };
    return client.workflow.start<typeof batchWorkflow>('batchWorkflow', { taskQueue, workflowId: batchId, args: [input] });
  }

  test('1,200 chunks run once each over three runs (continue-as-new every 500) and the batch completes', async () => {
    const handle = await start({ chunkCount: 1_200 });
    await expect(handle.result()).resolves.toEqual({ status: 'completed' });
    const runs = chunkRuns.get(handle.workflowId)!;
    expect(runs).toHaveLength(1_200);
    expect(new Set(runs).size).toBe(1_200);
    expect(finalized.get(handle.workflowId)).toEqual(['completed']);
    const first = await client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId).describe();
    expect(first.status.name).toBe('CONTINUED_AS_NEW');
    let continued = 0;
    for await (const execution of client.workflow.list({ query: `WorkflowId = "${handle.workflowId}"` })) {
      if (execution.status.name === 'CONTINUED_AS_NEW') continued++;
    }
    expect(continued).toBe(2);
    await keepHistory('continued-as-new', handle, handle.firstExecutionRunId);
  });

  test('the window follows the fleet: as many chunks run at once as the last reading says, re-read while the window is full', async () => {
    let answer = 6;
    let running = 0;
    let peak = 0;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const handle = await start({
      chunkCount: 40,
      floor: 2,
      window: () => answer,
      chunk: async () => {
        peak = Math.max(peak, ++running);
        await released;
        running--;
      },
    });
    await waitFor(async () => (await handle.query(progressQuery)).chunksRunning === 6, { timeoutMs: 30_000, what: 'six chunks running' });
    // The fleet grew (a worker found its depths): the next reading, due within seconds, widens the window.
    answer = 10;
    await waitFor(async () => (await handle.query(progressQuery)).chunksRunning === 10, { timeoutMs: 30_000, what: 'ten chunks running' });
    expect(peak).toBe(10);
    release();
    await expect(handle.result()).resolves.toEqual({ status: 'completed' });
    expect(chunkRuns.get(handle.workflowId)).toHaveLength(40);
    // Each reading costs one event (its local activity's marker), plus once a run the two patches'
    // markers and the head's (a local activity too).
    const history = await handle.fetchHistory();
    const markers = history.events!.filter((e) => e.markerRecordedEventAttributes).length;
    expect(markers).toBe(readings.get(handle.workflowId)!.length + 3);
    await keepHistory('window-follows-fleet', handle);
  });

  test('the head of a batch runs while it validates; the rest starts once planned, each chunk once', async () => {
    const handle = await start({
      chunkCount: 5,
      head: 2,
      // Validation ends only once both chunks of the head have run: without the head start it never would.
      validate: () => waitFor(() => (chunkRuns.get(handle.workflowId)?.length ?? 0) === 2, { timeoutMs: 30_000, what: 'the head to run' }).then(() => undefined),
    });
    await expect(handle.result()).resolves.toEqual({ status: 'completed' });
    expect(chunkRuns.get(handle.workflowId)?.slice(0, 2).sort()).toEqual([0, 1]);
    expect(chunkRuns.get(handle.workflowId)?.sort()).toEqual([0, 1, 2, 3, 4]);
    expect(finalized.get(handle.workflowId)).toEqual(['completed']);
    await keepHistory('head-start', handle);
  });

  test('a batch whose validation fails stops the chunks of its head and ends failed, once they have stopped, without files', async () => {
    const stopped: number[] = [];
    const handle = await start({
      chunkCount: 5,
      head: 2,
      chunk: (chunkNo) => untilCancelled().finally(() => stopped.push(chunkNo)),
      refused: true,
      validate: () => waitFor(async () => (await handle.query(progressQuery)).chunksRunning === 2, { timeoutMs: 30_000, what: 'the head to run' }).then(() => undefined),
    });
    await expect(handle.result()).resolves.toEqual({ status: 'failed' });
    expect(chunkRuns.get(handle.workflowId)).toBeUndefined();
    expect(finalized.get(handle.workflowId)).toBeUndefined();
    // The workflow ended only once both had stopped (their cancellation is waited for).
    expect(stopped.sort()).toEqual([0, 1]);
    await keepHistory('head-refused', handle);
  });

  test('a cancel while the head runs and the batch validates stops both; the batch finalizes as cancelled', async () => {
    const handle = await start({ chunkCount: 5, head: 2, chunk: untilCancelled, validate: untilCancelled });
    await waitFor(async () => (await handle.query(progressQuery)).chunksRunning === 2 && reached(handle.workflowId, 'validating'), {
      timeoutMs: 30_000,
      what: 'the head to run',
    });
    expect(await handle.query(progressQuery)).toMatchObject({ phase: 'validating', chunksRunning: 2 });
    await handle.signal(cancelSignal);
    await expect(handle.result()).resolves.toEqual({ status: 'cancelled' });
    expect(finalized.get(handle.workflowId)).toEqual(['cancelled']);
    expect(chunkRuns.get(handle.workflowId)).toBeUndefined();
    await keepHistory('head-cancelled', handle);
  });

  test('the completion window ending while chunks run stops them and finalizes as expired', async () => {
    const handle = await start({ chunkCount: 2, chunk: untilCancelled }, 3_000);
    await expect(handle.result()).resolves.toEqual({ status: 'expired' });
    expect(reached(handle.workflowId, 'in_progress')).toBe(true);
    expect(finalized.get(handle.workflowId)).toEqual(['expired']);
    await keepHistory('expired', handle);
  });

  test('a cancel that arrives while finalizing changes nothing: the batch completes', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const handle = await start({ chunkCount: 2, finalize: () => released });
    await waitFor(() => reached(handle.workflowId, 'finalizing'), { timeoutMs: 30_000, what: 'finalize to start' });
    await handle.signal(cancelSignal);
    await waitFor(async () => (await handle.query(progressQuery)).phase === 'finalizing', { timeoutMs: 10_000, what: 'the finalizing phase' });
    expect((await handle.query(progressQuery)).stopReason).toBeNull();
    release();
    await expect(handle.result()).resolves.toEqual({ status: 'completed' });
    expect(finalized.get(handle.workflowId)).toEqual(['completed']);
    await keepHistory('cancel-signal-finalizing', handle);
  });

  // Two ways to cancel: the batch's signal (POST /cancel), and a workflow cancel request as the
  // Temporal UI and CLI send it. Both end the batch the same way.
  describe.each([
    ['cancel-signal', 'the cancel signal', (handle: WorkflowHandle) => handle.signal(cancelSignal)],
    ['workflow-cancel', 'a workflow cancel', (handle: WorkflowHandle) => handle.cancel()],
  ] as const)('%s', (name, how, cancel) => {
    test(`${how} while validating cancels the validation and finalizes as cancelled, running no chunk`, async () => {
      const handle = await start({ chunkCount: 3, validate: untilCancelled });
      await waitFor(() => reached(handle.workflowId, 'validating'), { timeoutMs: 30_000, what: 'validation to start' });
      await cancel(handle);
      await expect(handle.result()).resolves.toEqual({ status: 'cancelled' });
      expect(finalized.get(handle.workflowId)).toEqual(['cancelled']);
      expect(chunkRuns.get(handle.workflowId)).toBeUndefined();
      await keepHistory(`${name}-validating`, handle);
    });

    test(`${how} while chunks run cancels them; progress shows them running first; the batch finalizes as cancelled`, async () => {
      const handle = await start({ chunkCount: 5, chunk: untilCancelled });
      await waitFor(async () => (await handle.query(progressQuery)).chunksRunning === 5, { timeoutMs: 30_000, what: 'five chunks running' });
      expect(await handle.query(progressQuery)).toMatchObject({ phase: 'in_progress', chunkCount: 5, chunksDone: 0, stopReason: null });
      await cancel(handle);
      await expect(handle.result()).resolves.toEqual({ status: 'cancelled' });
      expect(finalized.get(handle.workflowId)).toEqual(['cancelled']);
      expect(chunkRuns.get(handle.workflowId)).toBeUndefined();
      await keepHistory(`${name}-running`, handle);
    });
  });

  test('a workflow cancel while finalizing lets the batch finish as it was finishing', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const handle = await start({ chunkCount: 2, finalize: () => released });
    await waitFor(() => reached(handle.workflowId, 'finalizing'), { timeoutMs: 30_000, what: 'finalize to start' });
    await handle.cancel();
    release();
    await expect(handle.result()).resolves.toEqual({ status: 'completed' });
    expect(new Set(finalized.get(handle.workflowId))).toEqual(new Set(['completed']));
    await keepHistory('workflow-cancel-finalizing', handle);
  });

  test('a chunk that fails for good fails the batch, with the files of what finished, instead of leaving it running', async () => {
    const handle = await start({
      chunkCount: 4,
      chunk: async (chunkNo) => {
        if (chunkNo === 2) throw ApplicationFailure.nonRetryable('a deterministic failure', 'Poison');
      },
    });
    await expect(handle.result()).resolves.toEqual({ status: 'failed' });
    expect(finalized.get(handle.workflowId)).toEqual(['failed']);
    expect(chunkRuns.get(handle.workflowId)?.sort()).toEqual([0, 1, 3]);
    await keepHistory('chunk-failed', handle);
  });
});
