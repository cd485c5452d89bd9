import { setMaxListeners } from 'node:events';
import type { Db } from '../db/pool';
import { batchRequestId } from '../ids';
import type { InferenceClient, InferenceOutcome } from '../inference/client';
import type { Claim } from '../inference/semaphore';
import { requestsCompleted, requestsFailed, resultFlushDuration, tokens } from '../metrics/instruments';
import { keepTrying } from '../transientFailures';
import { findPendingRequests, storeResults, type RequestResult } from '../store/requests';
import { usageOf } from '../domain/endpoints';
import { isSuccessStatus } from '../batches/outputLines';
import { writeFinishedChunk, type ChunkFilesOutcome } from './resultFiles';

export type ChunkProgress = { pending: number; done: number };
/**
 * `executed` counts requests run by this attempt; the rest of the chunk was checkpointed by earlier
 * ones. `lines`: what became of the chunk's lines in the result files (`deferred` to finalize, with
 * the reason, when writing them failed: every result is stored, so nothing is lost).
 */
export type ChunkReport = { executed: number; lines: ChunkFilesOutcome | { deferred: string } };

export type FlushPolicy = { maxResults: number; maxDelayMs: number };
/**
 * Small groups bound the work a crash can lose (a group is small beside the requests in flight, up
 * to a backend's depth); the delay bound keeps slow chunks checkpointed too. Each group is one
 * statement that also locks the batch row for its counters, so groups much smaller than this cost
 * PostgreSQL and the worker CPU a fast GPU would rather have.
 */
export const DEFAULT_FLUSH_POLICY: FlushPolicy = { maxResults: 64, maxDelayMs: 250 };

/** The chunk waited for a backend longer than it may: its retry can run where backends are up. */
export class ChunkStalledError extends Error {
  override readonly name = 'ChunkStalledError';
}

/**
 * This worker lost backends and holds more work than the rest run at once: the chunk's requests that
 * had not started were given back, its retry runs them on whichever worker has room.
 */
export class ChunkHandedBackError extends Error {
  override readonly name = 'ChunkHandedBackError';
}

/** How long a worker that lost backends may hold more waiting work than its others run before its chunks hand theirs back. */
export const HAND_BACK_AFTER_MS = 5_000;

/**
 * Runs one chunk of a batch: executes the requests without a checkpointed result, flushing results
 * to Postgres in small groups, then writes the chunk's lines into the batch's result files. On abort it stops starting requests, keeps what finished, and rethrows.
 * If results cannot be stored even after retrying for `resultWriteRetryMs`, it stops at once: GPU work whose result would be
 * lost is better left for the activity's retry. If no backend is in rotation and nothing finishes
 * for `stallTimeoutMs`, it stops the same way with a ChunkStalledError (retryable): an outage is
 * waited out, by this worker or, after the retry, by another.
 */
export async function runChunk(
  deps: { db: Db; inference: InferenceClient },
  args: { batchId: string; chunkNo: number; endpoint: string },
  control: {
    signal: AbortSignal;
    onProgress: (progress: ChunkProgress) => void;
    stallTimeoutMs: number;
    /** How long a result write is retried before the chunk gives up (and is retried itself). */
    resultWriteRetryMs: number;
    /** Its turn for backend slots among other chunks: priority, then round-robin by tenant. */
    claim: Claim;
    flush?: FlushPolicy;
  },
): Promise<ChunkReport> {
  const { db, inference } = deps;
  const pending = await findPendingRequests(db, args.batchId, args.chunkNo);
  const stopped = new AbortController();
  const signal = AbortSignal.any([control.signal, stopped.signal]);
  // Every request of the chunk listens for the chunk's stop; that many listeners is by design.
  setMaxListeners(pending.length + 16, signal);
  const buffer = new ResultBuffer(
    // A dropped connection, a PostgreSQL restart or a failover should not cost the GPU work already
    // done: the write is retried (backing off to every 5 s) for up to resultWriteRetryMs, its results
    // waiting in memory meanwhile (at most a chunk's).
    async (results) => {
      const stopTimer = resultFlushDuration.startTimer();
      try {
        return await keepTrying(control.resultWriteRetryMs, () => storeResults(db, args.batchId, results), { initialDelayMs: 250, maxDelayMs: 5_000 });
      } finally {
        stopTimer();
      }
    },
    control.flush ?? DEFAULT_FLUSH_POLICY,
    () => control.onProgress({ pending: pending.length, done: buffer.stored }),
    (err) => stopped.abort(err),
  );
  control.onProgress({ pending: pending.length, done: 0 });

  // One model per batch (validation sees to it): the chunk waits for a backend that lists it.
  const model = pending.length > 0 ? (JSON.parse(pending[0]!.body) as { model: string }).model : undefined;
  const count = countOutcome(args.endpoint, model ?? '');
  let lastProgressAt = Date.now();
  // When the chunk hands its work back, the requests waiting for a slot here (not sent yet, or to be
  // sent again after their server failed) go back; those at a backend finish and are kept.
  const handBack = new AbortController();
  const waitSignal = AbortSignal.any([signal, handBack.signal]);
  setMaxListeners(pending.length + 16, waitSignal);
  let mostServing = inference.pool.servingCount(model, [args.endpoint]);
  let overloadedSince: number | undefined;
  const watchdog = setInterval(
    () => {
      const { pool } = inference;
      const serving = pool.servingCount(model, [args.endpoint]);
      // While a backend is in rotation, slowness is the GPU's pace, not a stall.
      if (serving > 0) lastProgressAt = Date.now();
      else if (Date.now() - lastProgressAt >= control.stallTimeoutMs) {
        stopped.abort(new ChunkStalledError(`no backend in rotation for ${control.stallTimeoutMs} ms; the chunk is left to its retry`));
      }
      // Some of this worker's backends left (a GPU failed), the rest cannot run what waits here: what
      // has not started goes back to the task queue, for workers with room (another, or this one later).
      // A total outage is waited out instead (above): no worker of this one's backends would do better.
      mostServing = Math.max(mostServing, serving);
      const { waiting, depth } = pool.queueState(model ?? '', [args.endpoint]);
      overloadedSince = serving > 0 && serving < mostServing && waiting > depth ? (overloadedSince ?? Date.now()) : undefined;
      if (overloadedSince !== undefined && Date.now() - overloadedSince >= HAND_BACK_AFTER_MS && !handBack.signal.aborted) {
        handBack.abort(new ChunkHandedBackError(`${mostServing - serving} of this worker's backends left rotation: the chunk's requests waiting here are handed back`));
      }
    },
    Math.min(1_000, control.stallTimeoutMs / 4),
  );
  const executions = pending.map(async (request) => {
    const outcome = await inference.execute(args.endpoint, { text: request.body, model }, signal, control.claim, waitSignal);
    lastProgressAt = Date.now();
    const result = toResult(args.batchId, args.endpoint, request.line_no, outcome);
    count(result);
    buffer.add(result);
  });
  const settled = await Promise.allSettled(executions);
  clearInterval(watchdog);
  await buffer.close();
  const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failure) throw signal.aborted ? signal.reason : failure.reason;
  const lines = await writeFinishedChunk(db, args.batchId, args.chunkNo).catch((err: unknown) => ({ deferred: err instanceof Error ? err.message : String(err) }));
  return { executed: pending.length, lines };
}

function toResult(batchId: string, endpoint: string, lineNo: number, outcome: InferenceOutcome): RequestResult {
  if (outcome.kind === 'error') {
    const requestId = batchRequestId(batchId, lineNo);
    return { lineNo, requestId, statusCode: null, responseJson: null, errorCode: outcome.code, errorMessage: outcome.message, inputTokens: 0, outputTokens: 0 };
  }
  // Each endpoint reports usage in its own shape (the Responses API says input_tokens/output_tokens).
  const usage = usageOf(endpoint, outcome.body);
  return {
    lineNo,
    requestId: outcome.requestId ?? batchRequestId(batchId, lineNo),
    statusCode: outcome.statusCode,
    responseJson: outcome.json,
    errorCode: null,
    errorMessage: null,
    inputTokens: usage.input,
    outputTokens: usage.output,
  };
}

/**
 * Counts each finished request in the metrics, by the chunk's endpoint and model (both checked by
 * validation: bounded label values); the labelled children are looked up once per chunk.
 */
function countOutcome(endpoint: string, model: string): (result: RequestResult) => void {
  const completed = requestsCompleted.labels({ endpoint, model });
  const inputTokens = tokens.labels({ model, direction: 'input' });
  const outputTokens = tokens.labels({ model, direction: 'output' });
  return (result) => {
    const { statusCode } = result;
    if (isSuccessStatus(statusCode)) completed.inc();
    else requestsFailed.inc({ endpoint, model, code: statusCode === null ? result.errorCode! : `http_${statusCode}` });
    if (result.inputTokens > 0) inputTokens.inc(result.inputTokens);
    if (result.outputTokens > 0) outputTokens.inc(result.outputTokens);
  };
}

/**
 * Collects results and writes them in groups (by count or age), one write at a time so groups land
 * in order and a failed write surfaces at close().
 */
class ResultBuffer {
  private results: RequestResult[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private writeError: unknown;
  stored = 0;

  constructor(
    private readonly write: (results: RequestResult[]) => Promise<unknown>,
    private readonly policy: FlushPolicy,
    private readonly onStored: () => void,
    private readonly onFailed: (err: unknown) => void,
  ) {}

  add(result: RequestResult): void {
    this.results.push(result);
    if (this.results.length >= this.policy.maxResults) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.policy.maxDelayMs);
  }

  async close(): Promise<void> {
    this.flush();
    await this.writing;
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- the failed write's own rejection, rethrown as it came
    if (this.writeError) throw this.writeError;
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.results.length === 0) return;
    const group = this.results;
    this.results = [];
    this.writing = this.writing.then(async () => {
      if (this.writeError) return;
      try {
        await this.write(group);
        this.stored += group.length;
        this.onStored();
      } catch (err) {
        this.writeError = err;
        this.onFailed(err);
      }
    });
  }
}
