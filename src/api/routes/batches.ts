import { Router } from 'express';
import type { Db } from '../../db/pool';
import { cancelBatch } from '../../batches/cancel';
import { createBatch, type CreateBatchDeps } from '../../batches/create';
import { toBatchObject } from '../../batches/object';
import { listBatchPage, retrieveBatch } from '../../batches/read';
import { readResultsPage } from '../../batches/results';
import { retryBatch } from '../../batches/retry';
import { ApiError, invalidRequest, notFound, requireJsonObjectBody } from '../errors';
import { idempotencyKeyOf, idempotencyKeyReused, markReplayed } from '../idempotency';
import { hashJson } from '../../idempotency/claim';
import { listObject, unknownCursor } from '../pagination';
import { BatchResultsQuery, CreateBatchBody, ListBatchesQuery, RetryBatchBody } from '../schemas';
import { tenantOf } from '../tenant';
import { parseRequest } from '../validate';

/** `/v1/batches`: create, list, retrieve and cancel, as OpenAI's batches resource. */
export function batchesRouter(deps: CreateBatchDeps & { db: Db }): Router {
  const router = Router();

  router.post('/batches', requireJsonObjectBody, async (req, res) => {
    const key = idempotencyKeyOf(req);
    const request = parseRequest(CreateBatchBody, req.body ?? {});
    const outcome = await createBatch(deps, tenantOf(res), request, { idempotency: key === undefined ? undefined : { key, requestHash: hashJson(req.body ?? {}) } });
    if (outcome.kind === 'invalid_input_file') throw invalidRequest(outcome.message, 'input_file_id', 'invalid_input_file');
    if (outcome.kind === 'invalid_webhook_url') throw invalidRequest(outcome.message, outcome.param, 'invalid_webhook_url');
    if (outcome.kind === 'idempotency_key_reused') throw idempotencyKeyReused();
    if (outcome.replayed) markReplayed(res);
    res.status(200).json(toBatchObject(outcome.batch));
  });

  router.get('/batches', async (req, res) => {
    const query = parseRequest(ListBatchesQuery, req.query);
    const batches = await listBatchPage(deps.db, tenantOf(res), query);
    if (!batches) throw unknownCursor('batch', query.after!);
    res.json(listObject(batches, query.limit));
  });

  router.get('/batches/:id', async (req, res) => {
    const batch = await retrieveBatch(deps.db, tenantOf(res), req.params.id);
    if (!batch) throw notFound('batch', req.params.id);
    res.json(batch);
  });

  /** Extension: the lines finished so far, in input order, each as in the result files. */
  router.get('/batches/:id/results', async (req, res) => {
    const outcome = await readResultsPage(deps.db, tenantOf(res), req.params.id, parseRequest(BatchResultsQuery, req.query));
    if (outcome.kind === 'not_found') throw notFound('batch', req.params.id);
    if (outcome.kind === 'purged') {
      throw new ApiError(
        409,
        'invalid_request_error',
        'results_in_files',
        `Batch '${req.params.id}' has ended and its per-line results now live only in its output and error files: read those.`,
      );
    }
    res.type('application/json').send(outcome.json);
  });

  /** Answers with the batch as it now is: `cancelling`, or `cancelled` if it was validating. */
  router.post('/batches/:id/cancel', async (req, res) => {
    const outcome = await cancelBatch(deps, tenantOf(res), req.params.id);
    if (outcome.kind === 'not_found') throw notFound('batch', req.params.id);
    if (outcome.kind === 'not_cancellable') {
      throw new ApiError(409, 'invalid_request_error', 'batch_not_cancellable', `Cannot cancel a batch with status '${outcome.batch.status}'.`);
    }
    res.json(toBatchObject(outcome.batch));
  });

  /** Extension: a new batch of the failed lines of a finished batch, linked to it. */
  router.post('/batches/:id/retry', requireJsonObjectBody, async (req, res) => {
    // The body check before the handler leaves Express's types unsure of the path's parameters.
    const { id } = req.params as { id: string };
    const key = idempotencyKeyOf(req);
    const request = parseRequest(RetryBatchBody, req.body ?? {});
    const idempotency = key === undefined ? undefined : { key, requestHash: hashJson({ retry_of: id, ...request }) };
    const outcome = await retryBatch(deps, tenantOf(res), id, request, { idempotency });
    if (outcome.kind === 'not_found') throw notFound('batch', id);
    if (outcome.kind === 'not_finished') {
      throw new ApiError(409, 'invalid_request_error', 'batch_not_finished', `Batch '${id}' is ${outcome.status}: only a finished batch can be retried.`);
    }
    if (outcome.kind === 'nothing_to_retry') throw new ApiError(409, 'invalid_request_error', 'nothing_to_retry', outcome.message);
    if (outcome.kind === 'files_gone') throw new ApiError(409, 'invalid_request_error', 'batch_files_gone', outcome.message);
    if (outcome.kind === 'idempotency_key_reused') throw idempotencyKeyReused();
    if (outcome.replayed) markReplayed(res);
    res.status(200).json(toBatchObject(outcome.batch));
  });

  return router;
}
