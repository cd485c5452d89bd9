import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/activity';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { InferenceActivities } from '../../src/activities/inference';
import type { OrchestratorActivities } from '../../src/activities/orchestrator';
import { createWebhookActivities } from '../../src/activities/webhooks';
import type { Db } from '../../src/db/pool';
import type { FinalizeOutcome } from '../../src/states/batch';
import { listDeliveries } from '../../src/store/webhooks';
import { inferenceTaskQueue, ORCHESTRATOR_TASK_QUEUE } from '../../src/domain/taskQueues';
import { webhookWorkflowId } from '../../src/webhooks/workflowIds';
import type { batchWorkflow, BatchWorkflowInput } from '../../src/workflows/batch';
import type { webhookDeliveryWorkflow } from '../../src/workflows/webhook';
import { connectTestDb, insertRanBatch, uniqueTenant } from '../support/fixtures';
import { timeSkippingEnvironment } from '../support/timeSkipping';

/**
 * What takes hours of workflow time, on Temporal's time-skipping test server: the end of a 24-hour
 * completion window, and a day of webhook delivery retries. Each runs in seconds of real time.
 */

const HOUR_MS = 3_600_000;

describe('hours of workflow time on the time-skipping test server', () => {
  let env: TestWorkflowEnvironment;

  beforeAll(async () => {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
    env = await timeSkippingEnvironment();
  });

  afterAll(async () => {
    await env?.teardown();
  });

  /**
   * Time jumps only while no activity runs, so the stuck phases are scripted as activities that
   * keep failing (a database or GPU that is down), retried by Temporal with backoff until the
   * window ends.
   */
  describe('the batch workflow, with scripted activities', () => {
    const model = `time-skipping-model-${crypto.randomUUID()}`;
    const finalized = new Map<string, FinalizeOutcome[]>();
    const attempts = new Map<string, { validate: number; chunk: number }>();
    const failingValidation = new Set<string>();
    let bundle: WorkflowBundleWithSourceMap;

    const count = (batchId: string, what: 'validate' | 'chunk') => {
      const seen = attempts.get(batchId) ?? { validate: 0, chunk: 0 };
      seen[what]++;
      attempts.set(batchId, seen);
    };
    const orchestrator: OrchestratorActivities = {
      // No fleet reported: the window stays at the plan's floor.
      chunkWindow: () => Promise.resolve(null),
      // No head: the chunks wait for the plan.
      indexHead: () => Promise.resolve(null),
      async validateAndPlan(batchId) {
        count(batchId, 'validate');
        if (failingValidation.has(batchId)) throw ApplicationFailure.retryable('PostgreSQL is unreachable');
        return {
          outcome: 'in_progress',
          model,
          endpoint: '/v1/chat/completions',
          chunkCount: 2,
          totalRequests: 2,
          run: { chunksInFlight: 4, chunkHeartbeatTimeoutMs: 60_000 },
        };
      },
      async finalizeBatch(batchId, outcome) {
        finalized.set(batchId, [...(finalized.get(batchId) ?? []), outcome]);
        return outcome;
      },
    };
    // A GPU that never comes back: each chunk attempt stalls, as runChunk reports it.
    const inference: InferenceActivities = {
      async processChunk({ batchId }) {
        count(batchId, 'chunk');
        throw ApplicationFailure.retryable('no backend in rotation', 'ChunkStalledError');
      },
    };

    beforeAll(async () => {
      bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows'), logger: new DefaultLogger('ERROR') });
    });

    /** Runs a batch to its end with both roles' workers up; returns its result and how long after its window it closed. */
    async function runBatch(batchId: string, windowMs: number) {
      const taskQueue = `time-skipping-batch-${crypto.randomUUID()}`;
      const workers = [
        await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: bundle, activities: orchestrator }),
        await Worker.create({ connection: env.nativeConnection, taskQueue: inferenceTaskQueue(model), activities: inference }),
      ];
      const startedAt = await env.currentTimeMs();
      const input: BatchWorkflowInput = { batchId, expiresAtMs: startedAt + windowMs, webhookEvents: [] };
      const handle = await env.client.workflow.start<typeof batchWorkflow>('batchWorkflow', { taskQueue, workflowId: batchId, args: [input] });
      const result = await runAll(workers, () => handle.result());
      const { closeTime } = await handle.describe();
      return { result, closedAfterWindowMs: closeTime!.getTime() - input.expiresAtMs };
    }

    test('chunks that stall for a whole 2-hour window are retried until it ends; then the batch expires', async () => {
      const batchId = newBatchId();
      const realStart = Date.now();
      const { result, closedAfterWindowMs } = await runBatch(batchId, 2 * HOUR_MS);
      expect(result).toEqual({ status: 'expired' });
      expect(finalized.get(batchId)).toEqual(['expired']);
      // Two chunks, retried at most every 30 s for 2 hours.
      expect(attempts.get(batchId)!.chunk).toBeGreaterThan(2 * 100);
      expect(closedAfterWindowMs).toBeGreaterThanOrEqual(0);
      expect(closedAfterWindowMs).toBeLessThan(60_000);
      expect(Date.now() - realStart).toBeLessThan(120_000);
    });

    test('a validation that fails for a whole 2-hour window stops when it ends: the batch expires and no chunk runs', async () => {
      const batchId = newBatchId();
      failingValidation.add(batchId);
      const { result, closedAfterWindowMs } = await runBatch(batchId, 2 * HOUR_MS);
      expect(result).toEqual({ status: 'expired' });
      expect(finalized.get(batchId)).toEqual(['expired']);
      // Retried at most every minute for 2 hours.
      expect(attempts.get(batchId)).toMatchObject({ chunk: 0 });
      expect(attempts.get(batchId)!.validate).toBeGreaterThan(100);
      expect(closedAfterWindowMs).toBeGreaterThanOrEqual(0);
      expect(closedAfterWindowMs).toBeLessThan(60_000);
    });
  });

  describe('webhook delivery, with the real activities and PostgreSQL', () => {
    const tenant = uniqueTenant('time-skipping');
    let db: Db;
    let deadUrl: string;

    beforeAll(async () => {
      db = await connectTestDb(3);
      // A port that refuses connections: bound, then closed.
      const server = http.createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      deadUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    afterAll(async () => {
      await db?.end();
    });

    test('a receiver down for good is given 24 hours of backoff retries, then the delivery is marked failed', async () => {
      const batchId = await insertRanBatch(db, tenant, { url: deadUrl });
      const worker = await Worker.create({
        connection: env.nativeConnection,
        taskQueue: ORCHESTRATOR_TASK_QUEUE,
        workflowBundle: await bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows/webhook'), logger: new DefaultLogger('ERROR') }),
        activities: createWebhookActivities({ db, config: { allowPrivate: true, defaultSecret: undefined, attemptTimeoutMs: 2_000 } }),
      });
      const handle = await env.client.workflow.start<typeof webhookDeliveryWorkflow>('webhookDeliveryWorkflow', {
        taskQueue: ORCHESTRATOR_TASK_QUEUE,
        workflowId: webhookWorkflowId(batchId, 'batch.completed'),
        args: [{ batchId, eventType: 'batch.completed' }],
      });
      const result = await worker.runUntil(handle.result());
      const workflowMs = await workflowDurationMs(handle);
      expect(result).toMatchObject({ status: 'failed' });
      const [delivery] = await listDeliveries(db, batchId);
      expect(delivery).toMatchObject({ status: 'failed' });
      expect(delivery!.last_error).toMatch(/^gave up retrying/);
      // 5 s doubling to at most an hour between attempts, for 24 hours: about 30 attempts, each recorded.
      expect(delivery!.attempt_count).toBeGreaterThanOrEqual(25);
      expect(delivery!.attempt_count).toBeLessThanOrEqual(35);
      expect(delivery!.attempts).toHaveLength(delivery!.attempt_count);
      expect(workflowMs).toBeGreaterThanOrEqual(23 * HOUR_MS);
      expect(workflowMs).toBeLessThanOrEqual(25 * HOUR_MS);
    });
  });
});

const newBatchId = () => `batch_${crypto.randomBytes(16).toString('hex')}`;

/** Workflow time from start to close, as the server recorded it (it skipped the waits). */
async function workflowDurationMs(handle: WorkflowHandle): Promise<number> {
  const { startTime, closeTime } = await handle.describe();
  return closeTime!.getTime() - startTime.getTime();
}

/** Runs `fn` while every worker runs, then shuts them all down. */
async function runAll<T>(workers: Worker[], fn: () => Promise<T>): Promise<T> {
  const running = workers.map((worker) => worker.run());
  try {
    return await fn();
  } finally {
    for (const worker of workers) worker.shutdown();
    await Promise.all(running);
  }
}
