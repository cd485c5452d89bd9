import crypto from 'node:crypto';
import { Context } from '@temporalio/activity';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import type { QueueActivities } from '../../src/activities/queues';
import type { DispatchCheck } from '../../src/queues/dispatch';
import { enqueuedSignal, queueStateQuery, queueWorkflowId, type QueueDispatcherInput } from '../../src/temporal/definitions';
import type { queueDispatcherWorkflow } from '../../src/workflows/queue';
import { keepHistory } from '../support/histories';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';

/** Temporal fails a workflow whose history passes this many events. */
const HISTORY_EVENT_CEILING = 10_240;
/** From this many events on, the server suggests continue-as-new (its `limit.historyCount.suggestContinueAsNew`, left at its default). */
const CONTINUE_AS_NEW_SUGGESTED_AT = 4 * 1024;
/** Enqueues (signals) that arrive while the dispatcher checks a busy queue: bounded, so no workflow task carries thousands. */
const ENQUEUES_PER_CHECK = 25;

/**
 * A queue's dispatcher workflow on the real Temporal dev server, its one activity (`dispatchDue`)
 * scripted per queue on this test's own task queue: dispatches back to back, the wait between checks
 * while requests are held, the idle sleep of an empty queue and the enqueue that wakes it, the end
 * of a deleted queue, and continue-as-new. The activity's domain has its own tests (queues,
 * queueIsolation, queueCrashes); here only the orchestration is under test.
 */
describe('queue dispatcher workflow on the real Temporal server', () => {
  const stack = testStack();
  const taskQueue = `component-queue-${crypto.randomUUID()}`;
  const tenantId = `component-tenant-${crypto.randomUUID()}`;
  /** Per queue: what its next check answers, given the check's run (first run or a continued one). */
  const scripts = new Map<string, (check: { workflowId: string; runId: string }) => DispatchCheck | Promise<DispatchCheck>>();
  /** Per queue: when each check ran, and in which run. */
  const checks = new Map<string, Array<{ at: number; runId: string }>>();
  let connection: Connection;
  let client: Client;
  let nativeConnection: NativeConnection;
  let worker: Worker;
  let running: Promise<void>;

  const activities: QueueActivities = {
    async dispatchDue({ queue }) {
      const execution = Context.current().info.workflowExecution;
      if (!execution) throw new Error('dispatchDue runs only as a workflow activity');
      checks.set(queue, [...(checks.get(queue) ?? []), { at: Date.now(), runId: execution.runId }]);
      return scripts.get(queue)!(execution);
    },
  };

  beforeAll(async () => {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
    connection = await Connection.connect({ address: stack.temporalAddress });
    client = new Client({ connection });
    nativeConnection = await NativeConnection.connect({ address: stack.temporalAddress });
    const workflowBundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows'), logger: new DefaultLogger('ERROR') });
    worker = await Worker.create({ connection: nativeConnection, taskQueue, workflowBundle, activities });
    running = worker.run();
  });

  afterAll(async () => {
    worker?.shutdown();
    await running;
    await nativeConnection?.close();
    await connection?.close();
  });

  /** An enqueue, as the API sends it: signal-with-start of the queue's dispatcher. */
  function enqueue(queue: string) {
    const input: QueueDispatcherInput = { tenantId, queue };
    return client.workflow.signalWithStart<typeof queueDispatcherWorkflow>('queueDispatcherWorkflow', {
      taskQueue,
      workflowId: queueWorkflowId(tenantId, queue),
      args: [input],
      signal: enqueuedSignal,
    });
  }

  /** Answers the scripted checks in order; the last answer repeats. */
  function answers(queue: string, ...sequence: DispatchCheck[]) {
    let next = 0;
    scripts.set(queue, () => sequence[Math.min(next++, sequence.length - 1)]!);
  }

  const checksOf = (queue: string) => checks.get(queue) ?? [];
  const dispatched = (n: number, queued = 0): DispatchCheck => ({ kind: 'dispatched', batchId: `batch_${n}`, requests: 10, queued });
  const empty: DispatchCheck = { kind: 'held', reason: 'empty', queued: 0, intervalMs: 5_000 };
  const gone: DispatchCheck = { kind: 'gone' };

  /** The events of the run after its last activity completed: what the workflow did once it had its answer. */
  async function eventsAfterLastCheck(handle: WorkflowHandle): Promise<temporal.api.history.v1.IHistoryEvent[]> {
    const events = (await handle.fetchHistory()).events ?? [];
    const last = events.map((e) => Boolean(e.activityTaskCompletedEventAttributes)).lastIndexOf(true);
    return events.slice(last + 1);
  }

  test('dispatches back to back while batches are due, sleeps without a timer once the queue is empty, and an enqueue wakes it', async () => {
    const queue = 'idle';
    answers(queue, dispatched(1, 20), dispatched(2, 10), dispatched(3), empty);
    const handle = await enqueue(queue);
    const idle = await waitFor(async () => (await handle.query(queueStateQuery)).phase === 'idle' && handle.query(queueStateQuery), {
      timeoutMs: 20_000,
      what: 'the dispatcher to go idle',
    });
    expect(idle).toEqual({ phase: 'idle', queued: 0, batchesDispatched: 3, lastBatchId: 'batch_3', holdReason: null });
    expect(checksOf(queue)).toHaveLength(4);
    // Idle is a wait on the next signal only: no timer, no activity, nothing that would ever run a check by itself.
    const afterIdle = await waitFor(
      async () => {
        const events = await eventsAfterLastCheck(handle);
        return events.at(-1)?.workflowTaskCompletedEventAttributes ? events : undefined;
      },
      { timeoutMs: 10_000, what: 'the workflow task after the last check' },
    );
    expect(afterIdle.filter((e) => e.timerStartedEventAttributes || e.activityTaskScheduledEventAttributes)).toEqual([]);
    expect((await handle.describe()).status.name).toBe('RUNNING');

    // The next enqueue wakes it: one more batch, then idle again.
    answers(queue, dispatched(4), empty);
    await enqueue(queue);
    await waitFor(async () => (await handle.query(queueStateQuery)).batchesDispatched === 4 && (await handle.query(queueStateQuery)).phase === 'idle', {
      timeoutMs: 20_000,
      what: 'the woken dispatcher to dispatch and go idle again',
    });
    expect(checksOf(queue)).toHaveLength(6);

    // The queue deleted: the check after the next wake-up finds it gone, and the dispatcher ends.
    answers(queue, gone);
    await handle.signal(enqueuedSignal);
    await expect(handle.result()).resolves.toBeUndefined();
    expect(checksOf(queue)).toHaveLength(7);
    await keepHistory(client, 'queue-dispatch-idle-wake-gone', handle.workflowId);
  });

  test('checks again every time_interval while requests are held, and dispatches once they are due', async () => {
    const queue = 'held';
    const intervalMs = 300;
    const held: DispatchCheck = { kind: 'held', reason: 'below_thresholds', queued: 5, intervalMs };
    answers(queue, held, held, held, dispatched(1), empty);
    const handle = await enqueue(queue);
    await waitFor(async () => (await handle.query(queueStateQuery)).phase === 'idle', { timeoutMs: 20_000, what: 'the held requests to be dispatched' });
    const times = checksOf(queue).map((c) => c.at);
    expect(times).toHaveLength(5);
    // The three held checks were each followed by a wait of time_interval (a timer), not by a busy loop.
    for (let i = 1; i <= 3; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(intervalMs - 20);
    const history = (await handle.fetchHistory()).events ?? [];
    expect(history.filter((e) => e.timerStartedEventAttributes)).toHaveLength(3);
    expect(await handle.query(queueStateQuery)).toMatchObject({ batchesDispatched: 1, lastBatchId: 'batch_1', holdReason: null });

    answers(queue, gone);
    await handle.signal(enqueuedSignal);
    await expect(handle.result()).resolves.toBeUndefined();
    await keepHistory(client, 'queue-held-then-dispatched', handle.workflowId);
  });

  test('a busy queue, enqueues arriving during every check, continues as new when Temporal suggests it, under the event ceiling, carrying its count', async () => {
    const queue = 'busy';
    // The first run cuts a batch at every check while producers enqueue (each enqueue a signal, a
    // history event): what brings a busy queue's dispatcher to the server's suggestion. The continued
    // run finds the queue drained.
    let firstRunId: string | undefined;
    let dispatches = 0;
    scripts.set(queue, async ({ workflowId, runId }) => {
      firstRunId ??= runId;
      if (runId !== firstRunId) return empty;
      const dispatcher = client.workflow.getHandle(workflowId);
      await Promise.all(Array.from({ length: ENQUEUES_PER_CHECK }, () => dispatcher.signal(enqueuedSignal)));
      return dispatched(++dispatches, 1_000);
    });
    const handle = await enqueue(queue);
    const first = client.workflow.getHandle(handle.workflowId, handle.signaledRunId);
    const continued = await waitFor(
      async () => {
        const current = client.workflow.getHandle(handle.workflowId);
        const state = await current.query(queueStateQuery).catch(() => undefined);
        return state?.phase === 'idle' && (await current.describe()).runId !== handle.signaledRunId && state;
      },
      { timeoutMs: 60_000, intervalMs: 500, what: 'the dispatcher to continue as new and go idle' },
    );

    expect((await first.describe()).status.name).toBe('CONTINUED_AS_NEW');
    const firstRunEvents = (await first.fetchHistory()).events!.length;
    console.log(`queue dispatcher: continued as new after ${dispatches} dispatches, ${firstRunEvents} history events`);
    // On the server's suggestion (before its own cap of 1,000 checks a run), with room to spare under the ceiling.
    expect(dispatches).toBeLessThan(1_000);
    expect(firstRunEvents).toBeGreaterThanOrEqual(CONTINUE_AS_NEW_SUGGESTED_AT);
    expect(firstRunEvents).toBeLessThan(HISTORY_EVENT_CEILING / 2);
    // The new run took the count over and checked once: no dispatch lost or counted twice.
    expect(continued).toMatchObject({ batchesDispatched: dispatches, lastBatchId: null });
    expect(checksOf(queue).filter((c) => c.runId === firstRunId)).toHaveLength(dispatches);
    expect(checksOf(queue).filter((c) => c.runId !== firstRunId)).toHaveLength(1);

    // The continued run is the queue's dispatcher: an enqueue wakes it.
    answers(queue, dispatched(dispatches + 1), gone);
    await enqueue(queue);
    await expect(client.workflow.getHandle(handle.workflowId).result()).resolves.toBeUndefined();
    expect(checksOf(queue).filter((c) => c.runId !== firstRunId)).toHaveLength(3);
    await keepHistory(client, 'queue-continued-as-new', handle.workflowId, handle.signaledRunId);
  });
});
