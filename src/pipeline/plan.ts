import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { isDataRefusal, isDatabaseUnavailable, withTransaction, type Db } from '../db/pool';
import { logger } from '../logger';
import { readFileContent } from '../files/content';
import { splitLines, type Line } from '../files/lines';
import { INITIAL_STATUS, type BatchStatus } from '../states/batch';
import { findBatchById, type BatchError, type BatchRow } from '../store/batches';
import { moveBatch } from '../batches/transition';
import { discardUnstartedBatch, findDuplicateCustomIds, insertPlannedRequests, type PlannedRequest } from '../store/requests';
import { listLiveModels } from '../store/inferenceWorkers';
import { validateLine, type LineContext } from '../batches/lineValidation';
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

/**
 * The most a batch's head reads (`indexHead`): its chunks are for a GPU to start on while the file is
 * validated, which a file of huge lines (up to 8 MiB each) must not turn into a long wait first.
 */
const HEAD_BYTES = 8 * 1024 * 1024;

/** More errors than this add nothing for the user and would bloat the batch object. */
export const MAX_REPORTED_ERRORS = 100;
const INSERT_GROUP = 500;
/** Lines validated between two turns of the event loop: about 5 ms of work. */
const LINES_BETWEEN_TURNS = 100;
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

/** What a batch's first chunks need to run while the rest of its file is validated: its model, where its chunks run, how many are ready. */
export type BatchHead = { model: string; endpoint: string; taskQueue: string; chunks: number };

/**
 * Validates and indexes the first `chunks` chunks of a validating batch, so that they can run while
 * the whole file is validated: a GPU need not idle through the second a 20,000-line file takes, nor
 * the minute of a million lines. `validateAndPlan` reads these lines again (harmlessly) and decides
 * the batch as before; a batch that then fails, or is cancelled or expires first, drops what they
 * did (`discardUnstartedBatch`). Null when nothing should start: the batch is not validating, its
 * head has a problem (the batch is likely to fail), or no live GPU worker serves its model at its
 * endpoint.
 */
export async function indexHead(
  db: Db,
  batchId: string,
  limits: PlanLimits,
  { chunks, bytes = HEAD_BYTES }: { chunks: number; bytes?: number },
  control: PlanControl = {},
): Promise<BatchHead | null> {
  const batch = await findBatchById(db, batchId);
  if (!batch) throw new BatchNotFoundError(`batch ${batchId} does not exist`);
  if (batch.status !== INITIAL_STATUS) return null;
  const head = { requests: chunks * limits.chunkSize, bytes };
  const input = await indexRequests(db, batch, limits, { onProgress: control.onProgress ?? (() => undefined), head });
  if (input.errors.length > 0 || input.model === undefined) return null;
  const { name: model, line } = input.model;
  if ((await modelServedError(db, batch.endpoint, model, line)) !== undefined) return null;
  // Whole chunks only, and of a file that ended within the head, its last one too.
  const ready = input.cutAtHead ? Math.floor(input.requestCount / limits.chunkSize) : Math.ceil(input.requestCount / limits.chunkSize);
  if (ready === 0) return null;
  return { model, endpoint: batch.endpoint, taskQueue: taskQueueOf(model, batch.endpoint), chunks: ready };
}

/** Moves a validating batch to failed with `errors`, dropping its request index and what its first chunks did. */
async function failBatch(db: Db, batchId: string, errors: BatchError[]): Promise<BatchPlan> {
  // One transaction: a retry finds the batch failed and returns at once, so a discard left undone
  // after the move would leave its head's results counted for good.
  const failed = await withTransaction(db, async (client) => {
    const moved = await moveBatch(client, batchId, 'failed', { errors });
    await discardUnstartedBatch(client, batchId);
    return moved;
  });
  return failed ? { outcome: 'failed' } : planOf((await findBatchById(db, batchId))!);
}

/**
 * The plan of a validating batch, step by step: read and index its requests, look for duplicate
 * custom_ids, wait for its model, then fail it with what was found, in line order, or start it.
 */
async function planBatch(db: Db, batch: BatchRow, limits: PlanLimits, control: PlanControl): Promise<BatchPlan> {
  const input = await indexRequests(db, batch, limits, { onProgress: control.onProgress ?? (() => undefined) });
  const errors = [...input.errors, ...(await duplicateCustomIdErrors(db, batch.id))];
  if (input.model !== undefined) {
    // Only a batch that is otherwise fine is worth waiting for: one with line errors fails at once.
    const deadline = errors.length === 0 ? modelDeadline(batch, limits.modelGraceSeconds) : 0;
    const modelError = await untilModelServed(db, batch, input.model.name, input.model.line, deadline, control.signal);
    if (modelError) errors.push(modelError);
  }
  const reported = firstInLineOrder(errors);
  if (input.requestCount === 0 && reported.length === 0) {
    reported.push({ code: 'empty_file', message: 'The input file contains no requests.', param: null, line: null });
  }
  if (reported.length > 0) return failBatch(db, batch.id, reported);
  // Requests were counted, so the first of them named the model.
  return startBatch(db, batch.id, input.model!.name, input.requestCount, limits.chunkSize);
}

/**
 * What reading the input found: line errors, the requests indexed, the batch's model with the line
 * it came from, and whether reading stopped at the head (`IndexOptions`) with more lines to read.
 */
type ReadInput = { errors: BatchError[]; requestCount: number; model: { name: string; line: number } | undefined; cutAtHead: boolean };

type IndexOptions = {
  onProgress: (linesRead: number) => void;
  /** Reads only this far: the requests (or bytes) of a batch's head (`indexHead`), which ends at the first problem. */
  head?: { requests: number; bytes: number };
};

/**
 * Streams the input file once, checks every line and writes each request that passes to the
 * request index as it goes. Stops as soon as reading on could report nothing more.
 */
async function indexRequests(db: Db, batch: BatchRow, limits: PlanLimits, options: IndexOptions): Promise<ReadInput> {
  const { onProgress, head } = options;
  let bytesRead = 0;
  const input: ReadInput = { errors: [], requestCount: 0, model: undefined, cutAtHead: false };
  const context = { endpoint: batch.endpoint, defaultModel: batch.model ?? limits.defaultModel };
  const index = requestIndexWriter(db, batch.id);
  try {
    reading: for await (const lines of splitLines(readFileContent(db, batch.input_file_id), limits.maxLineBytes)) {
      for (const line of lines) {
        if (input.errors.length >= (head === undefined ? MAX_REPORTED_ERRORS : 1)) break reading;
        if (head && (input.requestCount === head.requests || bytesRead >= head.bytes)) {
          input.cutAtHead = true;
          break reading;
        }
        onProgress(line.lineNo);
        if ('bytes' in line) bytesRead += line.bytes.length;
        // A piece of the file holds thousands of lines, checked without a pause otherwise: the chunks
        // sharing this process (npm start runs every role in one) must get their answers through.
        if (line.lineNo % LINES_BETWEEN_TURNS === 0) await nextTurn();
        const checked = checkLine(line, input, context, limits);
        if ('request' in checked) {
          await index.add(checked.request);
          continue;
        }
        input.errors.push(checked.error);
        if (checked.last) break reading;
      }
    }
    await index.finish();
  } finally {
    // A failed write ends the reading; the others settle before anyone acts on the batch.
    await index.settled();
  }
  return input;
}

/**
 * One line against the rules of a line (`validateLine`) and of the batch: one model, the first
 * valid line's; at most `maxRequests` requests. Counts it into `input`. Returns the request to
 * index, or the line's error (`last` when no line after it can matter).
 */
function checkLine(line: Line, input: ReadInput, context: LineContext, limits: PlanLimits): { request: PlannedRequest } | { error: BatchError; last?: true } {
  if ('tooLong' in line) {
    return { error: { code: 'line_too_long', message: `Line ${line.lineNo} exceeds ${limits.maxLineBytes} bytes.`, param: null, line: line.lineNo } };
  }
  const verdict = validateLine(line.bytes, line.lineNo, context);
  if (!verdict.ok) return { error: verdict.error };
  const { customId, model, bodyText } = verdict.line;
  input.model ??= { name: model, line: line.lineNo };
  if (model !== input.model.name) {
    return {
      error: {
        code: 'mismatched_model',
        message: `Line ${line.lineNo}: model "${model}" differs from "${input.model.name}"; a batch targets one model.`,
        param: 'body.model',
        line: line.lineNo,
      },
    };
  }
  input.requestCount++;
  if (input.requestCount > limits.maxRequests) {
    const message = `The file has more than the maximum of ${limits.maxRequests} requests per batch.`;
    return { error: { code: 'too_many_requests', message, param: null, line: line.lineNo }, last: true };
  }
  // Stored even once the batch is bound to fail: duplicates are found among the stored lines.
  return { request: { lineNo: line.lineNo, chunkNo: Math.floor((input.requestCount - 1) / limits.chunkSize), customId, body: bodyText } };
}

/**
 * Writes the request index in groups, a few at once, while the next lines are read and validated:
 * validation waits on these writes (the database's work), not on its own CPU.
 */
function requestIndexWriter(db: Db, batchId: string) {
  let pending: PlannedRequest[] = [];
  const writing: Array<Promise<void>> = [];
  const write = async (group: PlannedRequest[]) => {
    if (writing.length >= WRITES_IN_FLIGHT) await writing.shift();
    const written = insertPlannedRequests(db, batchId, group);
    // Awaited in turn or at the end; a read that fails first must not leave it unhandled.
    written.catch(() => undefined);
    writing.push(written);
  };
  return {
    async add(request: PlannedRequest): Promise<void> {
      pending.push(request);
      if (pending.length < INSERT_GROUP) return;
      await write(pending);
      pending = [];
    },
    /** Writes the last group and waits for every write; the first failure is thrown. */
    async finish(): Promise<void> {
      await write(pending);
      await Promise.all(writing);
    },
    settled: () => Promise.allSettled(writing),
  };
}

/**
 * The custom_ids used more than once, found by the database among the indexed lines rather than in
 * a set of every custom_id, which for a million-line file would cost the worker a hundred MB.
 */
async function duplicateCustomIdErrors(db: Db, batchId: string): Promise<BatchError[]> {
  const duplicates = await findDuplicateCustomIds(db, batchId, MAX_REPORTED_ERRORS);
  return duplicates.map((duplicate) => ({
    code: 'duplicate_custom_id',
    message: `Line ${duplicate.line_no}: custom_id "${duplicate.custom_id}" is used more than once.`,
    param: 'custom_id',
    line: duplicate.line_no,
  }));
}

/** Every kind of error in line order, whichever check found it; the first MAX_REPORTED_ERRORS are reported. */
function firstInLineOrder(errors: BatchError[]): BatchError[] {
  return errors.sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity)).slice(0, MAX_REPORTED_ERRORS);
}

/** Moves the batch to in_progress with its model and counts, unless it was cancelled meanwhile. */
async function startBatch(db: Db, batchId: string, model: string, requestCount: number, chunkSize: number): Promise<BatchPlan> {
  const started = await moveBatch(db, batchId, 'in_progress', { model, chunk_count: Math.ceil(requestCount / chunkSize), total_requests: requestCount });
  if (started) return planOf(started);
  // Cancelled while validating: nothing of this batch will run, so its request index goes.
  await discardUnstartedBatch(db, batchId);
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
      taskQueue: taskQueueOf(batch.model, batch.endpoint),
      chunkCount: batch.chunk_count,
      totalRequests: batch.total_requests,
    };
  }
  return { outcome: 'not_runnable', status: batch.status };
}

/** The task queue of a batch's chunks: its model's, for its endpoint's kind. */
const taskQueueOf = (model: string, endpoint: string) => inferenceTaskQueue(model, isBatchEndpoint(endpoint) ? endpointKind(endpoint) : 'generation');
