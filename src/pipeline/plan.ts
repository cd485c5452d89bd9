import { setTimeout as sleep } from 'node:timers/promises';
import { isDataRefusal, isDatabaseUnavailable, type Db } from '../db/pool';
import { logger } from '../logger';
import { readFileContent } from '../files/content';
import { splitLines } from '../files/lines';
import { INITIAL_STATUS, type BatchStatus } from '../states/batch';
import { findBatchById, type BatchError, type BatchRow } from '../store/batches';
import { moveBatch } from '../batches/transition';
import { deletePlannedRequests, findDuplicateCustomIds, insertPlannedRequests, type PlannedRequest } from '../store/requests';
import { listLiveModels } from '../store/inferenceWorkers';
import { validateLine } from '../batches/lineValidation';
import { endpointKind, isBatchEndpoint } from '../domain/endpoints';
import { inferenceTaskQueue } from '../domain/taskQueues';

/** What the workflow needs to run the batch: only IDs and counters, never request bodies. */
export type BatchPlan =
  | {
      outcome: 'in_progress';
      model: string;
      endpoint: string;
      /** Where its chunks run: the queue of its model and endpoint kind (older plans, carried across continue-as-new, lack it). */
      taskQueue?: string;
      chunkCount: number;
      totalRequests: number;
    }
  | { outcome: 'failed' }
  | { outcome: 'not_runnable'; status: BatchStatus };

export type PlanLimits = {
  maxRequests: number;
  maxLineBytes: number;
  chunkSize: number;
  defaultModel: string | undefined;
  /**
   * How long after its creation a batch whose model no live GPU worker serves (at its endpoint) waits,
   * still validating, for one that does before it fails: workers restarting, loading a model, or
   * unable to announce themselves while PostgreSQL was away are not a verdict on the batch.
   */
  modelGraceSeconds: number;
};

export type PlanControl = {
  /** Aborts the wait for a model (the batch was cancelled); validation itself stops at the next line. */
  signal?: AbortSignal;
  onProgress?: (linesRead: number) => void;
};

/** How often a batch waiting for its model looks again at what live workers serve. */
const MODEL_CHECK_INTERVAL_MS = 2_000;

/** More errors than this add nothing for the user and would bloat the batch object. */
export const MAX_REPORTED_ERRORS = 100;
const INSERT_GROUP = 500;
const WRITES_IN_FLIGHT = 3;

export class BatchNotFoundError extends Error {}

/**
 * Streams the input file once: validates every line, writes the request index with chunk numbers,
 * and moves the batch to in_progress, or to failed with up to MAX_REPORTED_ERRORS line errors.
 * Idempotent: a retry after a crash re-reads the file and re-inserts harmlessly.
 */
export async function validateAndPlan(db: Db, batchId: string, limits: PlanLimits, control: PlanControl = {}): Promise<BatchPlan> {
  const batch = await findBatchById(db, batchId);
  if (!batch) throw new BatchNotFoundError(`batch ${batchId} does not exist`);
  if (batch.status !== INITIAL_STATUS) return planOf(batch);
  try {
    return await planBatch(db, batch, limits, control);
  } catch (err) {
    // Retrying would fail the same way forever, the batch stuck in validating: fail it, saying why.
    if (!isDataRefusal(err)) throw err;
    const error = { code: 'input_not_storable', message: `The input could not be stored: ${err.message}.`, param: null, line: null };
    return failBatch(db, batchId, [error]);
  }
}

/** Moves a validating batch to failed with `errors`, dropping its request index. */
async function failBatch(db: Db, batchId: string, errors: BatchError[]): Promise<BatchPlan> {
  const failed = await moveBatch(db, batchId, 'failed', { errors });
  await deletePlannedRequests(db, batchId);
  return failed ? { outcome: 'failed' } : planOf((await findBatchById(db, batchId))!);
}

async function planBatch(db: Db, batch: BatchRow, limits: PlanLimits, control: PlanControl): Promise<BatchPlan> {
  const batchId = batch.id;
  const onProgress = control.onProgress ?? (() => undefined);

  const errors: BatchError[] = [];
  const report = (error: BatchError) => {
    if (errors.length < MAX_REPORTED_ERRORS) errors.push(error);
  };
  let batchModel: string | undefined;
  let batchModelLine: number | undefined;
  let requestCount = 0;
  let pending: PlannedRequest[] = [];
  // Groups are written while the next lines are read and validated, a few at once: validation
  // waits on these writes (the database's work), not on its own CPU.
  const writing: Array<Promise<void>> = [];
  const write = async (group: PlannedRequest[]) => {
    if (writing.length >= WRITES_IN_FLIGHT) await writing.shift();
    const written = insertPlannedRequests(db, batchId, group);
    // Awaited in turn or at the end; a read that fails first must not leave it unhandled.
    written.catch(() => undefined);
    writing.push(written);
  };
  const context = { endpoint: batch.endpoint, defaultModel: batch.model ?? limits.defaultModel };

  try {
    reading: for await (const lines of splitLines(readFileContent(db, batch.input_file_id), limits.maxLineBytes)) {
      for (const line of lines) {
        if (errors.length >= MAX_REPORTED_ERRORS) break reading; // reading on could report nothing more
        onProgress(line.lineNo);
        if ('tooLong' in line) {
          report({ code: 'line_too_long', message: `Line ${line.lineNo} exceeds ${limits.maxLineBytes} bytes.`, param: null, line: line.lineNo });
          continue;
        }
        const verdict = validateLine(line.bytes, line.lineNo, context);
        if (!verdict.ok) {
          report(verdict.error);
          continue;
        }
        const { customId, model, bodyText } = verdict.line;
        if (batchModel === undefined) {
          batchModel = model;
          batchModelLine = line.lineNo;
        }
        if (model !== batchModel) {
          report({
            code: 'mismatched_model',
            message: `Line ${line.lineNo}: model "${model}" differs from "${batchModel}"; a batch targets one model.`,
            param: 'body.model',
            line: line.lineNo,
          });
          continue;
        }
        requestCount++;
        if (requestCount > limits.maxRequests) {
          report({
            code: 'too_many_requests',
            message: `The file has more than the maximum of ${limits.maxRequests} requests per batch.`,
            param: null,
            line: line.lineNo,
          });
          break reading;
        }
        // Stored even once the batch is bound to fail: duplicates are found among the stored lines.
        pending.push({ lineNo: line.lineNo, chunkNo: Math.floor((requestCount - 1) / limits.chunkSize), customId, body: bodyText });
        if (pending.length >= INSERT_GROUP) {
          await write(pending);
          pending = [];
        }
      }
    }

    await write(pending);
    await Promise.all(writing);
  } finally {
    // A failed write ends the reading; the others settle before anyone acts on the batch.
    await Promise.allSettled(writing);
  }
  // Found by the database rather than a set of every custom_id, which for a million-line file would
  // cost the worker a hundred MB.
  for (const duplicate of await findDuplicateCustomIds(db, batchId, MAX_REPORTED_ERRORS)) {
    errors.push({
      code: 'duplicate_custom_id',
      message: `Line ${duplicate.line_no}: custom_id "${duplicate.custom_id}" is used more than once.`,
      param: 'custom_id',
      line: duplicate.line_no,
    });
  }
  if (batchModel !== undefined) {
    // Only a batch that is otherwise fine is worth waiting for: one with line errors fails at once.
    const deadline = errors.length === 0 ? modelDeadline(batch, limits.modelGraceSeconds) : 0;
    const modelError = await untilModelServed(db, batch, batchModel, batchModelLine!, deadline, control.signal);
    if (modelError) errors.push(modelError);
  }
  // Every kind of error in line order, whichever check found it; the first ones are reported.
  errors.sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
  errors.splice(MAX_REPORTED_ERRORS);
  if (requestCount === 0 && errors.length === 0) {
    report({ code: 'empty_file', message: 'The input file contains no requests.', param: null, line: null });
  }

  if (errors.length > 0) return failBatch(db, batchId, errors);
  const started = await moveBatch(db, batchId, 'in_progress', {
    model: batchModel!,
    chunk_count: Math.ceil(requestCount / limits.chunkSize),
    total_requests: requestCount,
  });
  if (started) return planOf(started);
  // Cancelled while validating: nothing of this batch will run, so its request index goes.
  await deletePlannedRequests(db, batchId);
  return planOf((await findBatchById(db, batchId))!);
}

/** When a batch stops waiting for its model: its grace period after creation, within its completion window. */
function modelDeadline(batch: BatchRow, graceSeconds: number): number {
  return Math.min(batch.created_at.getTime() + graceSeconds * 1000, batch.expires_at.getTime());
}

/**
 * Whether the model is served at the batch's endpoint by a live GPU worker, looking again until
 * `deadline` (epoch ms) while it is not, or PostgreSQL cannot say: undefined once it is, else the
 * error the batch fails with.
 */
async function untilModelServed(
  db: Db,
  batch: BatchRow,
  model: string,
  line: number,
  deadline: number,
  signal: AbortSignal | undefined,
): Promise<BatchError | undefined> {
  let waiting = false;
  for (;;) {
    const checked = await modelServedError(db, batch.endpoint, model, line).catch((err: unknown) => {
      // PostgreSQL cannot say just now: look again while there is time to wait.
      if (Date.now() < deadline && isDatabaseUnavailable(err)) return 'unknown' as const;
      throw err;
    });
    if (checked === undefined || (checked !== 'unknown' && Date.now() >= deadline)) {
      if (waiting)
        logger.info(
          { batch_id: batch.id, model, served: checked === undefined },
          checked === undefined ? 'a GPU worker serves the model now' : 'no GPU worker served the model in time',
        );
      return checked;
    }
    if (!waiting) logger.info({ batch_id: batch.id, model, until: new Date(deadline).toISOString() }, 'waiting for a live GPU worker serving the model');
    waiting = true;
    await sleep(Math.min(MODEL_CHECK_INTERVAL_MS, Math.max(0, deadline - Date.now())), undefined, { signal });
  }
}

/** Why no live GPU worker can run the model's requests at `endpoint`, or undefined if one can. */
async function modelServedError(db: Db, endpoint: string, model: string, line: number): Promise<BatchError | undefined> {
  const served = (await listLiveModels(db)).find((m) => m.model === model);
  if (!served) {
    const message = `The model "${model}" is not served by any live GPU worker (GET /v1/models lists those that are).`;
    return { code: 'model_not_found', message, param: 'body.model', line };
  }
  if (served.endpoints.includes(endpoint)) return undefined;
  // A generation server has no pooling routes and the reverse: a worker that took these chunks could only fail them.
  const others = served.endpoints.length > 0 ? `it is served for ${served.endpoints.join(', ')}` : 'it is served for no batch endpoint';
  const message = `The endpoint ${endpoint} is not served for the model "${model}" by any live GPU worker (${others}).`;
  return { code: 'endpoint_not_served', message, param: 'url', line };
}

/** The plan recorded on the batch row, for a retried activity whose first attempt already decided. */
function planOf(batch: BatchRow): BatchPlan {
  if (batch.status === 'failed') return { outcome: 'failed' };
  if (batch.status === 'in_progress' && batch.model !== null && batch.chunk_count !== null) {
    return {
      outcome: 'in_progress',
      model: batch.model,
      endpoint: batch.endpoint,
      taskQueue: inferenceTaskQueue(batch.model, isBatchEndpoint(batch.endpoint) ? endpointKind(batch.endpoint) : 'generation'),
      chunkCount: batch.chunk_count,
      totalRequests: batch.total_requests,
    };
  }
  return { outcome: 'not_runnable', status: batch.status };
}
