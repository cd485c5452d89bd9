import {
  ActivityCancellationType,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  log,
  ParentClosePolicy,
  patched,
  startChild,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
  setWorkflowOptions,
} from '@temporalio/workflow';
import type { InferenceActivities } from '../activities/inference';
import type { OrchestratorActivities, RunHead, RunPlan, RunSettings } from '../activities/orchestrator';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { isFinalizeOutcome, isTerminal, type BatchStatus } from '../states/batch';
import { terminalEvent, type WebhookEventType } from '../states/webhook';
import { webhookWorkflowId } from '../webhooks/workflowIds';
import { webhookDeliveryWorkflow } from './webhook';
import { cancelSignal, progressQuery, type BatchProgress } from '../temporal/definitions';
import { inferenceTaskQueue } from '../domain/taskQueues';
import { BATCH_MODEL, BATCH_STATUS } from '../temporal/searchAttributes';
import { whenVersioned } from './versioning';

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

/**
 * How far apart readings of the batch's window (the fleet's capacity, `chunkWindow`) are once a run
 * has settled. A reading is made only while the window is full, in a workflow task that a chunk's
 * end brings anyway: it costs one event (the local activity's marker), at most one per chunk.
 */
const WINDOW_READING_INTERVAL_MS = 10_000;
/**
 * In a run's first seconds its workers may still be finding their backends' depths (they report
 * them within a second), and its chunks may take far longer to end than that: readings are then
 * made 1, 2, 4 and 8 s apart, each woken by a timer (six events a reading, at most four a run).
 */
const FIRST_WINDOW_READING_MS = 1_000;
/** The patch that made the window follow the fleet: histories from before keep their fixed window. */
const WINDOW_FOLLOWS_FLEET = 'window-follows-fleet';
/** The patch that starts a batch's first chunks while its file is validated: histories from before validate first. */
const HEAD_START = 'head-start';

const orchestrator = proxyActivities<OrchestratorActivities>({
  startToCloseTimeout: '1 hour',
  // The activities beat every 5 s: an orchestrator that dies mid-activity is retried after this.
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/** Readings of the window: one quick query each; one that fails keeps the window the batch has. */
const fleet = proxyLocalActivities<OrchestratorActivities>({ startToCloseTimeout: '5 seconds', retry: { maximumAttempts: 1 } });

/**
 * The head of a batch (`indexHead`): how many of its chunks start while its file is validated, read
 * in two steps. First its first chunk alone, as a local activity, so that its requests reach a GPU
 * without a round trip through a task queue; its row may not be committed yet (the API starts the
 * workflow just before), so a few quick tries. Then the rest, while that chunk runs, as an activity:
 * a local one would hold the first chunk's start back until it ended (the workflow task carries
 * both). Enough for a fast GPU to have work through a 20,000-line validation (a 64-slot GPU at 50 ms
 * runs 1,280 requests a second, and validation takes one to two seconds where it shares a process
 * with the GPU worker, as under npm start), and little GPU time wasted when a batch fails validation.
 * A step that fails is done without: the batch then only waits for its validation. The steps are
 * commands in the batch's history: changing them takes a patch of its own.
 */
const HEAD_STEPS = [
  {
    chunks: 1,
    read: proxyLocalActivities<OrchestratorActivities>({ startToCloseTimeout: '10 seconds', retry: { initialInterval: '10 ms', maximumAttempts: 7 } }),
  },
  { chunks: 4, read: proxyActivities<OrchestratorActivities>({ startToCloseTimeout: '10 seconds', retry: { maximumAttempts: 2 } }) },
];

/**
 * One batch: validate and plan, run chunks on the model's inference queue through a sliding window,
 * then finalize. A cancel signal or the end of the completion window stops new work, cancels running
 * chunks (which keep what they finished) and finalizes with what is done. Only IDs and counters
 * cross history; bodies and results live in Postgres.
 */
export async function batchWorkflow(input: BatchWorkflowInput): Promise<BatchWorkflowResult> {
  const run: Run = {
    input,
    progress: {
      phase: input.plan ? 'in_progress' : 'validating',
      chunkCount: input.plan?.chunkCount ?? null,
      chunksDone: input.chunksDone ?? 0,
      chunksRunning: 0,
      stopReason: null,
    },
    work: new CancellationScope(),
    ending: null,
    nextChunk: input.nextChunk ?? 0,
    startedThisRun: 0,
  };
  const { progress } = run;
  const stop = (reason: StopReason) => {
    if (progress.stopReason !== null || progress.phase === 'finalizing' || progress.phase === 'done') return;
    progress.stopReason = reason;
    run.work.cancel();
  };
  setHandler(cancelSignal, () => stop('cancelled'));
  setHandler(progressQuery, () => progress);
  // The timer dies with a cancelled workflow; that is no failure.
  void sleep(Math.max(0, input.expiresAtMs - Date.now())).then(
    () => stop('expired'),
    () => undefined,
  );

  try {
    return await runBatch(run);
  } catch (err) {
    if (!isCancellation(err)) throw err;
    // Cancelled as a workflow (Temporal UI or CLI) rather than by the cancel signal: end exactly as
    // POST /cancel would, keeping what finished, where that cancel can no longer interrupt.
    return CancellationScope.nonCancellable(async () => {
      progress.stopReason ??= 'cancelled';
      await condition(() => progress.chunksRunning === 0);
      return finish(run, run.ending ?? 'cancelled');
    });
  }
}

/**
 * One workflow run's state: its input, what it reports, the scope a stop cancels, the status it is
 * finishing with, the next chunk to start and how many this run started, and the first chunk that
 * failed for good.
 */
type Run = {
  input: BatchWorkflowInput;
  progress: BatchProgress;
  work: CancellationScope;
  ending: BatchStatus | null;
  nextChunk: number;
  startedThisRun: number;
  failure?: unknown;
};

async function runBatch(run: Run): Promise<BatchWorkflowResult> {
  const { input, progress, work } = run;
  const plan = input.plan ?? (await validate(run));
  if (run.startedThisRun > 0 && plan?.outcome !== 'in_progress') {
    // Its first chunks ran while it was validating: they stop, and the batch ends once they have.
    work.cancel();
    await condition(() => progress.chunksRunning === 0);
  }
  // Stopped while validating: by a stop, or by a workflow cancel (whose finish then runs again, uncancellable).
  if (plan === undefined) return finish(run, progress.stopReason ?? 'cancelled');
  // Validation stored the failure and its line errors; there are no files to write.
  if (plan.outcome === 'failed') return ended(run, 'failed');
  // A user cancel that landed while validation finished still needs its partial files.
  if (plan.outcome === 'not_runnable') return finish(run, plan.status === 'cancelling' ? 'cancelled' : plan.status);
  if (!input.plan)
    upsertSearchAttributes([
      { key: BATCH_STATUS, value: 'in_progress' },
      { key: BATCH_MODEL, value: plan.model },
    ]);
  progress.phase = 'in_progress';
  if (!input.plan) await notifyWebhook(input, 'batch.in_progress');
  progress.chunkCount = plan.chunkCount;

  const inference = chunksOn(plan.taskQueue ?? inferenceTaskQueue(plan.model), plan.run);
  const mayStartMore = () =>
    run.nextChunk < plan.chunkCount &&
    progress.stopReason === null &&
    run.failure === undefined &&
    run.startedThisRun < CHUNKS_PER_RUN &&
    !workflowInfo().continueAsNewSuggested;

  // The window: read from the fleet at the start of each run (never carried in the plan), then again
  // while it is full, so a lone batch fills whatever fleet serves its model; a history from before
  // (no patch marker) keeps the fixed window it ran with.
  const inFlight = new ChunkWindow(plan, patched(WINDOW_FOLLOWS_FLEET));
  const full = () => progress.chunksRunning >= inFlight.chunks;
  await inFlight.read();
  // Wake-ups for the first readings; cancelled once every chunk of the run has started.
  const wakeUps = new CancellationScope();
  if (inFlight.followsFleet)
    void wakeUps
      .run(async () => {
        for (let ms = FIRST_WINDOW_READING_MS; ms < WINDOW_READING_INTERVAL_MS; ms *= 2) await sleep(ms);
      })
      .catch(() => undefined);

  while (mayStartMore()) {
    await condition(() => !full() || progress.stopReason !== null || inFlight.due());
    if (!mayStartMore()) break;
    if (full()) {
      await inFlight.read();
      continue;
    }
    startNextChunk(run, inference, plan.endpoint);
  }
  wakeUps.cancel();
  await condition(() => progress.chunksRunning === 0);
  if (run.failure !== undefined) {
    // Chunks retry whatever can pass; one that failed for good fails the batch, with the files of what finished.
    const failure = run.failure instanceof Error ? run.failure.message : 'unknown';
    log.error('a chunk failed for good; the batch fails', { batchId: input.batchId, failure });
    return finish(run, 'failed');
  }
  if (progress.stopReason !== null) return finish(run, progress.stopReason);
  if (run.nextChunk < plan.chunkCount) {
    await continueAsNew<typeof batchWorkflow>({ ...input, plan, nextChunk: run.nextChunk, chunksDone: progress.chunksDone });
  }
  return finish(run, 'completed');
}

/**
 * Validates and plans the batch; with the head start, its first chunks are indexed first and run
 * meanwhile (src/pipeline/plan.ts `indexHead`). Undefined when a stop ended validation.
 */
async function validate(run: Run): Promise<RunPlan | undefined> {
  const { input, work } = run;
  if (patched(HEAD_START)) {
    for (const step of HEAD_STEPS) {
      const first = await untilStopped(work.run(() => headOf(input.batchId, step)));
      if (!first) break;
      const inference = chunksOn(first.taskQueue, first.run);
      while (run.nextChunk < first.chunks) startNextChunk(run, inference, first.endpoint);
      // The file ended within it: the whole batch is running.
      if (first.chunks < step.chunks) break;
    }
  }
  return untilStopped(work.run(() => orchestrator.validateAndPlan(input.batchId)));
}

/** The batch's head, or null when it has none or it could not be read: the batch then only waits for its validation. */
async function headOf(batchId: string, { chunks, read }: (typeof HEAD_STEPS)[number]): Promise<RunHead | null> {
  try {
    return await read.indexHead(batchId, chunks);
  } catch (err) {
    if (isCancellation(err)) throw err;
    log.warn('could not read the head of the batch: it starts once validated', { batchId, error: err instanceof Error ? err.message : 'unknown' });
    return null;
  }
}

/** The chunk activity on a model's task queue, with the run settings of the batch's plan. */
function chunksOn(taskQueue: string, settings: RunSettings) {
  return proxyActivities<InferenceActivities>({
    taskQueue,
    startToCloseTimeout: '2 hours',
    // A GPU worker silent this long is presumed dead and its chunk is retried elsewhere.
    heartbeatTimeout: settings.chunkHeartbeatTimeoutMs,
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
    // Finalizing must wait until a cancelled chunk has flushed what it finished.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  });
}

/** Starts the run's next chunk in the scope a stop cancels; its end is counted, and a failure for good kept. */
function startNextChunk(run: Run, inference: ReturnType<typeof chunksOn>, endpoint: string): void {
  const { input, progress, work } = run;
  const chunkNo = run.nextChunk++;
  run.startedThisRun++;
  progress.chunksRunning++;
  work
    .run(() => inference.processChunk({ batchId: input.batchId, chunkNo, endpoint }))
    .then(
      () => progress.chunksDone++,
      (err: unknown) => {
        // Once stopping, a chunk may also end by timing out (its worker died): Temporal retries
        // nothing after a cancel request, and finalize accounts for what it did not finish.
        if (!isCancellation(err) && progress.stopReason === null) run.failure ??= err;
      },
    )
    .finally(() => progress.chunksRunning--);
}

/**
 * How many of the batch's chunks may be in flight: `chunks`, read from the fleet (the orchestrator's
 * `chunkWindow`) when `followsFleet`, else the plan's fixed CHUNKS_IN_FLIGHT_PER_BATCH. Readings are
 * `due` an interval after the last one; the interval doubles from FIRST_WINDOW_READING_MS to
 * WINDOW_READING_INTERVAL_MS. Workflow time only, so replays take the same turns.
 */
class ChunkWindow {
  chunks: number;
  private readAtMs = -Infinity;
  private intervalMs = FIRST_WINDOW_READING_MS;

  constructor(
    private readonly plan: Extract<RunPlan, { outcome: 'in_progress' }>,
    readonly followsFleet: boolean,
  ) {
    this.chunks = plan.run.chunksInFlight;
  }

  due(): boolean {
    return this.followsFleet && Date.now() - this.readAtMs >= this.intervalMs;
  }

  async read(): Promise<void> {
    if (!this.followsFleet) return;
    if (this.readAtMs > -Infinity) this.intervalMs = Math.min(WINDOW_READING_INTERVAL_MS, this.intervalMs * 2);
    this.readAtMs = Date.now();
    const { model, endpoint, run } = this.plan;
    try {
      this.chunks = (await fleet.chunkWindow({ model, endpoint, chunkSize: run.chunkSize, floor: run.chunksInFlight })) ?? this.chunks;
    } catch (err) {
      // A reading that failed (timed out) keeps the window; a cancelled workflow ends as it would have.
      if (isCancellation(err)) throw err;
      log.warn('could not read the batch window: keeping it', { chunks: this.chunks, error: err instanceof Error ? err.message : 'unknown' });
    }
  }
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
async function finish(run: Run, outcome: BatchStatus): Promise<BatchWorkflowResult> {
  run.ending = outcome;
  run.progress.phase = 'finalizing';
  return ended(run, isFinalizeOutcome(outcome) ? await orchestrator.finalizeBatch(run.input.batchId, outcome) : outcome);
}

/** The batch's status is stored: shows it in the Temporal UI and announces it. */
async function ended({ input, progress }: Run, status: BatchStatus): Promise<BatchWorkflowResult> {
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

// Under Worker Versioning (WORKER_DEPLOYMENT_NAME): a batch runs to its end on the build that started it, so a deploy never replays it on changed code.
setWorkflowOptions(whenVersioned('PINNED'), batchWorkflow);
