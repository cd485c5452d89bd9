import {
  ActivityCancellationType,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  ParentClosePolicy,
  startChild,
  proxyActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { InferenceActivities } from '../activities/inference';
import type { OrchestratorActivities, RunPlan } from '../activities/orchestrator';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { isFinalizeOutcome, isTerminal, type BatchStatus } from '../states/batch';
import { terminalEvent, type WebhookEventType } from '../states/webhook';
import { webhookWorkflowId } from '../webhooks/workflowIds';
import { webhookDeliveryWorkflow } from './webhook';
import { cancelSignal, inferenceTaskQueue, progressQuery, type BatchProgress } from '../temporal/definitions';
import { BATCH_MODEL, BATCH_STATUS } from '../temporal/searchAttributes';

export type BatchWorkflowInput = {
  batchId: string;
  /** End of the completion window (epoch ms): unfinished work then expires. */
  expiresAtMs: number;
  /** Carried across continue-as-new so a long batch is planned once, with the orchestrator's run settings of that time. */
  plan?: Extract<RunPlan, { outcome: 'in_progress' }>;
  /** Events the batch's webhook subscribes to: only these start a delivery. */
  webhookEvents: readonly WebhookEventType[];
  nextChunk?: number;
  chunksDone?: number;
};

type StopReason = NonNullable<BatchProgress['stopReason']>;

export type BatchWorkflowResult = { status: BatchStatus };

/** Well under Temporal's 10,240-event ceiling; each chunk costs a handful of events. */
const CHUNKS_PER_RUN = 500;

const orchestrator = proxyActivities<OrchestratorActivities>({
  startToCloseTimeout: '1 hour',
  // The activities beat every 5 s: an orchestrator that dies mid-activity is retried after this.
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/**
 * One batch: validate and plan, run chunks on the model's inference queue through a sliding window,
 * then finalize. A cancel signal or the end of the completion window stops new work, cancels running
 * chunks (which keep what they finished) and finalizes with what is done. Only IDs and counters
 * cross history; bodies and results live in Postgres.
 */
export async function batchWorkflow(input: BatchWorkflowInput): Promise<BatchWorkflowResult> {
  const progress: BatchProgress = {
    phase: input.plan ? 'in_progress' : 'validating',
    chunkCount: input.plan?.chunkCount ?? null,
    chunksDone: input.chunksDone ?? 0,
    chunksRunning: 0,
    stopReason: null,
  };
  // Everything that a stop must interrupt runs in this scope.
  const work = new CancellationScope();
  const stop = (reason: StopReason) => {
    if (progress.stopReason !== null || progress.phase === 'finalizing' || progress.phase === 'done') return;
    progress.stopReason = reason;
    work.cancel();
  };
  setHandler(cancelSignal, () => stop('cancelled'));
  setHandler(progressQuery, () => progress);
  void sleep(Math.max(0, input.expiresAtMs - Date.now())).then(() => stop('expired'));

  const plan = input.plan ?? (await untilStopped(work.run(() => orchestrator.validateAndPlan(input.batchId))));
  if (plan === undefined) return finish(input, progress, progress.stopReason!);
  if (plan.outcome === 'failed') return finish(input, progress, 'failed');
  // A user cancel that landed while validation finished still needs its partial files.
  if (plan.outcome === 'not_runnable') return finish(input, progress, plan.status === 'cancelling' ? 'cancelled' : plan.status);
  if (!input.plan)
    upsertSearchAttributes([
      { key: BATCH_STATUS, value: 'in_progress' },
      { key: BATCH_MODEL, value: plan.model },
    ]);
  progress.phase = 'in_progress';
  if (!input.plan) await notifyWebhook(input, 'batch.in_progress');
  progress.chunkCount = plan.chunkCount;

  const inference = proxyActivities<InferenceActivities>({
    taskQueue: inferenceTaskQueue(plan.model),
    startToCloseTimeout: '2 hours',
    // A GPU worker silent this long is presumed dead and its chunk is retried elsewhere.
    heartbeatTimeout: plan.run.chunkHeartbeatTimeoutMs,
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
    // Finalizing must wait until a cancelled chunk has flushed what it finished.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  });

  let nextChunk = input.nextChunk ?? 0;
  let startedThisRun = 0;
  let failure: unknown;
  const mayStartMore = () =>
    nextChunk < plan.chunkCount && progress.stopReason === null && failure === undefined && startedThisRun < CHUNKS_PER_RUN && !workflowInfo().continueAsNewSuggested;

  while (mayStartMore()) {
    await condition(() => progress.chunksRunning < plan.run.chunksInFlight || progress.stopReason !== null);
    if (!mayStartMore()) break;
    const chunkNo = nextChunk++;
    startedThisRun++;
    progress.chunksRunning++;
    work
      .run(() => inference.processChunk({ batchId: input.batchId, chunkNo, endpoint: plan.endpoint }))
      .then(
        () => progress.chunksDone++,
        (err: unknown) => {
          // Once stopping, a chunk may also end by timing out (its worker died): Temporal retries
          // nothing after a cancel request, and finalize accounts for what it did not finish.
          if (!isCancellation(err) && progress.stopReason === null) failure ??= err;
        },
      )
      .finally(() => progress.chunksRunning--);
  }
  await condition(() => progress.chunksRunning === 0);
  // eslint-disable-next-line @typescript-eslint/only-throw-error -- the first chunk's own failure, rethrown as it came
  if (failure !== undefined) throw failure;
  if (progress.stopReason !== null) return finish(input, progress, progress.stopReason);
  if (nextChunk < plan.chunkCount) {
    await continueAsNew<typeof batchWorkflow>({ ...input, plan, nextChunk, chunksDone: progress.chunksDone });
  }
  return finish(input, progress, 'completed');
}

/** Resolves to undefined when the scope was cancelled by a stop, rethrows anything else. */
async function untilStopped<T>(promise: Promise<T>): Promise<T | undefined> {
  try {
    return await promise;
  } catch (err) {
    if (isCancellation(err)) return undefined;
    throw err;
  }
}

/** Writes the result files for a batch that ran (or was stopped), then records the final status. */
async function finish(input: BatchWorkflowInput, progress: BatchProgress, outcome: BatchStatus): Promise<BatchWorkflowResult> {
  progress.phase = 'finalizing';
  const status = isFinalizeOutcome(outcome) ? await orchestrator.finalizeBatch(input.batchId, outcome) : outcome;
  progress.phase = 'done';
  upsertSearchAttributes([{ key: BATCH_STATUS, value: status }]);
  // The terminal status is already stored: delivery happens after it and never holds it up.
  if (isTerminal(status)) await notifyWebhook(input, terminalEvent(status));
  return { status };
}

/** Starts the event's delivery as an abandoned child: the batch never waits for its receiver. */
async function notifyWebhook({ batchId, webhookEvents }: BatchWorkflowInput, eventType: WebhookEventType): Promise<void> {
  if (!webhookEvents.includes(eventType)) return;
  try {
    await startChild(webhookDeliveryWorkflow, {
      workflowId: webhookWorkflowId(batchId, eventType),
      args: [{ batchId, eventType }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}
