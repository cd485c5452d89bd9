import { isDataRefusal, type Db } from '../db/pool';
import { readFileContent } from '../files/content';
import { splitLines } from '../files/lines';
import { INITIAL_STATUS, type BatchStatus } from '../states/batch';
import { findBatchById, type BatchError, type BatchRow } from '../store/batches';
import { moveBatch } from './transition';
import { deletePlannedRequests, findDuplicateCustomIds, insertPlannedRequests, type PlannedRequest } from '../store/requests';
import { listLiveModels } from '../store/workers';
import { validateLine } from './lineValidation';
import { endpointKind, isBatchEndpoint } from './endpoints';
import { inferenceTaskQueue } from '../temporal/definitions';

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

export type PlanLimits = { maxRequests: number; maxLineBytes: number; chunkSize: number; defaultModel: string | undefined };

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
export async function validateAndPlan(db: Db, batchId: string, limits: PlanLimits, onProgress: (linesRead: number) => void = () => undefined): Promise<BatchPlan> {
  const batch = await findBatchById(db, batchId);
  if (!batch) throw new BatchNotFoundError(`batch ${batchId} does not exist`);
  if (batch.status !== INITIAL_STATUS) return planOf(batch);
  try {
    return await planBatch(db, batch, limits, onProgress);
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

async function planBatch(db: Db, batch: BatchRow, limits: PlanLimits, onProgress: (linesRead: number) => void): Promise<BatchPlan> {
  const batchId = batch.id;

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
    const served = (await listLiveModels(db)).find((m) => m.model === batchModel);
    if (!served) {
      const message = `The model "${batchModel}" is not served by any live GPU worker (GET /v1/models lists those that are).`;
      errors.push({ code: 'model_not_found', message, param: 'body.model', line: batchModelLine! });
    } else if (!served.endpoints.includes(batch.endpoint)) {
      // A generation server has no pooling routes and the reverse: a worker that took these chunks could only fail them.
      const others = served.endpoints.length > 0 ? `it is served for ${served.endpoints.join(', ')}` : 'it is served for no batch endpoint';
      const message = `The endpoint ${batch.endpoint} is not served for the model "${batchModel}" by any live GPU worker (${others}).`;
      errors.push({ code: 'endpoint_not_served', message, param: 'url', line: batchModelLine! });
    }
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
