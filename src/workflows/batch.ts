import { condition, continueAsNew, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { InferenceActivities } from '../activities/inference';
import type { OrchestratorActivities } from '../activities/orchestrator';
import type { BatchPlan } from '../batches/plan';
import { inferenceTaskQueue } from '../temporal/names';

export type BatchWorkflowInput = {
  batchId: string;
  /** How many chunk activities of this batch may run at once. */
  chunksInFlight: number;
  /** Carried across continue-as-new so a long batch is planned once. */
  plan?: Extract<BatchPlan, { outcome: 'in_progress' }>;
  nextChunk?: number;
};

export type BatchWorkflowResult = { status: string };

/** Well under Temporal's 10,240-event ceiling; each chunk costs a handful of events. */
const CHUNKS_PER_RUN = 500;

const orchestrator = proxyActivities<OrchestratorActivities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/**
 * One batch: validate and plan, run chunks on the model's inference queue through a sliding window,
 * then finalize. Only IDs and counters cross history; bodies and results live in Postgres.
 */
export async function batchWorkflow(input: BatchWorkflowInput): Promise<BatchWorkflowResult> {
  const plan = input.plan ?? (await orchestrator.validateAndPlan(input.batchId));
  if (plan.outcome === 'failed') return { status: 'failed' };
  if (plan.outcome === 'not_runnable') return { status: plan.status };

  const inference = proxyActivities<InferenceActivities>({
    taskQueue: inferenceTaskQueue(plan.model),
    startToCloseTimeout: '2 hours',
    // A GPU worker that dies stops heartbeating; its chunk is retried elsewhere after this.
    heartbeatTimeout: '30 seconds',
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
  });

  let nextChunk = input.nextChunk ?? 0;
  let running = 0;
  let startedThisRun = 0;
  let firstError: unknown;
  const runLimitReached = () => startedThisRun >= CHUNKS_PER_RUN || workflowInfo().continueAsNewSuggested;

  while (nextChunk < plan.chunkCount && !runLimitReached() && firstError === undefined) {
    await condition(() => running < input.chunksInFlight);
    const chunkNo = nextChunk++;
    running++;
    startedThisRun++;
    inference
      .processChunk({ batchId: input.batchId, chunkNo, endpoint: plan.endpoint })
      .catch((err: unknown) => (firstError ??= err))
      .finally(() => running--);
  }
  await condition(() => running === 0);
  if (firstError !== undefined) throw firstError;
  if (nextChunk < plan.chunkCount) {
    await continueAsNew<typeof batchWorkflow>({ ...input, plan, nextChunk });
  }

  await orchestrator.finalizeBatch(input.batchId, 'completed');
  return { status: 'completed' };
}
