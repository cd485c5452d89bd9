import { cancelBatch } from '../../batches/cancel';
import { createBatch } from '../../batches/create';
import { BatchObject, toBatchObject } from '../../batches/object';
import { listBatchPage, retrieveBatch } from '../../batches/read';
import { BatchResultsPage, readResultsPage } from '../../batches/results';
import { retryBatch } from '../../batches/retry';
import { hashJson } from '../../idempotency/claim';
import { idempotencyKeyOf, idempotencyKeyReused, markReplayed } from '../idempotency';
import { defineOperation, notFound, WRITTEN } from '../operation';
import { listOperation, retrieveOperation } from '../reads';
import { BatchList, BatchResultsQuery, CreateBatchBody, ListBatchesQuery, RetryBatchBody } from '../schemas';
import { parseRequest } from '../validate';

/** `/v1/batches`: OpenAI's batches resource, and the results and retry extensions. */
export const batchOperations = [
  defineOperation({
    method: 'post',
    path: '/v1/batches',
    operationId: 'createBatch',
    summary: 'Create a batch from an uploaded file',
    body: { 'application/json': CreateBatchBody },
    response: BatchObject,
    idempotent: true,
    handle: async ({ deps, tenantId, req }) => {
      const key = idempotencyKeyOf(req);
      const request = parseRequest(CreateBatchBody, req.body ?? {});
      return createBatch(deps, tenantId, request, { idempotency: key === undefined ? undefined : { key, requestHash: hashJson(req.body ?? {}) } });
    },
    refuse: {
      invalid_input_file: { status: 400, code: 'invalid_input_file', message: (o) => o.message, param: () => 'input_file_id' },
      invalid_webhook_url: { status: 400, code: 'invalid_webhook_url', message: (o) => o.message, param: (o) => o.param },
      idempotency_key_reused: idempotencyKeyReused,
    },
    reply: (outcome, { res }) => {
      if (outcome.replayed) markReplayed(res);
      return toBatchObject(outcome.batch);
    },
  }),
  listOperation({
    path: '/v1/batches',
    operationId: 'listBatches',
    summary: 'List batches, newest first',
    query: ListBatchesQuery,
    response: BatchList,
    what: 'batch',
    list: (deps, tenantId, query) => listBatchPage(deps.db, tenantId, query),
  }),
  retrieveOperation({
    path: '/v1/batches/{batch_id}',
    operationId: 'retrieveBatch',
    summary: 'Retrieve a batch',
    response: BatchObject,
    what: 'batch',
    param: 'batch_id',
    find: (deps, tenantId, id) => retrieveBatch(deps.db, tenantId, id),
  }),
  defineOperation({
    method: 'post',
    path: '/v1/batches/{batch_id}/cancel',
    operationId: 'cancelBatch',
    summary: 'Cancel a batch: it answers `cancelling`, or `cancelled` if it was still validating',
    response: BatchObject,
    handle: ({ deps, tenantId, params }) => cancelBatch(deps, tenantId, params.batch_id),
    refuse: {
      not_found: notFound('batch', 'batch_id'),
      not_cancellable: { status: 409, code: 'batch_not_cancellable', message: (o) => `Cannot cancel a batch with status '${o.batch.status}'.` },
    },
    reply: (outcome) => toBatchObject(outcome.batch),
  }),
  defineOperation({
    method: 'get',
    path: '/v1/batches/{batch_id}/results',
    operationId: 'listBatchResults',
    summary: 'The lines finished so far, in input order, each exactly as in the output or error file; page on with `after=last_line` (extension)',
    query: { schema: BatchResultsQuery },
    response: BatchResultsPage,
    handle: ({ deps, tenantId, params, req }) => readResultsPage(deps.db, tenantId, params.batch_id, parseRequest(BatchResultsQuery, req.query)),
    refuse: {
      not_found: notFound('batch', 'batch_id'),
      purged: {
        status: 409,
        code: 'results_in_files',
        message: (_o, { params }) => `Batch '${params.batch_id}' has ended and its per-line results now live only in its output and error files: read those.`,
      },
    },
    reply: (outcome, { res }) => {
      // Serialised by the use case already: the lines are JSON text as stored.
      res.type('application/json').send(outcome.json);
      return WRITTEN;
    },
  }),
  defineOperation({
    method: 'post',
    path: '/v1/batches/{batch_id}/retry',
    operationId: 'retryBatch',
    summary: "A new batch of a finished batch's failed lines: same custom_ids, bodies, endpoint and metadata, with `retry_of` (extension)",
    body: { 'application/json': RetryBatchBody },
    response: BatchObject,
    idempotent: true,
    handle: ({ deps, tenantId, params, req }) => {
      const key = idempotencyKeyOf(req);
      const request = parseRequest(RetryBatchBody, req.body ?? {});
      const idempotency = key === undefined ? undefined : { key, requestHash: hashJson({ retry_of: params.batch_id, ...request }) };
      return retryBatch(deps, tenantId, params.batch_id, request, { idempotency });
    },
    refuse: {
      not_found: notFound('batch', 'batch_id'),
      not_finished: {
        status: 409,
        code: 'batch_not_finished',
        message: (o, { params }) => `Batch '${params.batch_id}' is ${o.status}: only a finished batch can be retried.`,
      },
      nothing_to_retry: { status: 409, code: 'nothing_to_retry', message: (o) => o.message },
      files_gone: { status: 409, code: 'batch_files_gone', message: (o) => o.message },
      idempotency_key_reused: idempotencyKeyReused,
    },
    reply: (outcome, { res }) => {
      if (outcome.replayed) markReplayed(res);
      return toBatchObject(outcome.batch);
    },
  }),
];
