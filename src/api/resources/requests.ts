import { arrayElements, member, memberText, objectText } from '../../jsonText';
import { enqueueRequests, type EnqueueItem } from '../../queues/enqueue';
import { QueuedRequestObject } from '../../queues/object';
import { cancelRequest, listQueuedRequestObjects, retrieveQueuedRequest } from '../../queues/requests';
import { DEFAULT_QUEUE } from '../../queues/settings';
import { invalidRequest } from '../errors';
import { bodyTextOf } from '../jsonBody';
import { defineOperation, notFound } from '../operation';
import { listOperation, retrieveOperation } from '../reads';
import { EnqueueRequestsBody, EnqueueRequestsQuery, EnqueueRequestsResponse, ListRequestsQuery, QueuedRequestList } from '../schemas';
import { parseRequest } from '../validate';

/** `/v1/requests` (extension, stream-to-batch): enqueue single requests, follow and cancel them. */
export const requestOperations = [
  defineOperation({
    method: 'post',
    path: '/v1/requests',
    operationId: 'enqueueRequests',
    summary: "Queue requests, dispatched as batches by size and age (extension; langbatch's POST /requests)",
    query: { schema: EnqueueRequestsQuery },
    body: { 'application/json': EnqueueRequestsBody },
    // Enqueue calls carry many requests: their own, larger limit.
    jsonLimit: (deps) => deps.queues.maxCallBytes,
    response: EnqueueRequestsResponse,
    raises: [{ status: 400, code: 'too_many_requests' }],
    handle: ({ deps, tenantId, req }) => {
      // Bodies are stored as JSON text, so any valid JSON inside them is kept: only the schema checks.
      const body = parseRequest(EnqueueRequestsBody, req.body ?? {}, { textChecks: false });
      const queue = body.queue ?? parseRequest(EnqueueRequestsQuery, req.query).queue ?? DEFAULT_QUEUE;
      const items = itemsOf(body, bodyTextOf(req));
      if (items.length === 0) throw invalidRequest("'data' holds no request.", 'data', 'invalid_value');
      const { maxRequestsPerCall } = deps.queues;
      if (items.length > maxRequestsPerCall) {
        throw invalidRequest(`At most ${maxRequestsPerCall} requests per call (MAX_REQUESTS_PER_CALL); this one has ${items.length}.`, 'data', 'too_many_requests');
      }
      return enqueueRequests({ ...deps, ...deps.queues }, tenantId, queue, items);
    },
    refuse: {
      queue_not_found: {
        status: 404,
        code: 'not_found',
        message: (o) => `No such queue: '${o.queue}'`,
      },
      invalid_item: {
        status: 400,
        code: (o) => o.code,
        // The item's own problems, as its batch line's would be (README: Validation).
        codes: ['invalid_item', 'duplicate_custom_id', 'line_too_long', 'missing_custom_id', 'invalid_custom_id', 'invalid_body', 'invalid_request'],
        message: (o) => o.message,
        param: (o) => o.param,
      },
      queue_full: {
        status: 429,
        code: 'queue_full',
        message: (o) =>
          `The tenant has ${o.queued} requests queued and this call adds ${o.adding}: more than the limit of ${o.limit} (MAX_QUEUED_REQUESTS_PER_TENANT); retry later.`,
        retryAfterSeconds: (o) => o.retryAfterSeconds,
      },
    },
    reply: (outcome) => ({ status: 'success', queue: outcome.queue, request_ids: outcome.ids }),
  }),
  listOperation({
    path: '/v1/requests',
    operationId: 'listRequests',
    summary: 'List queued requests, newest first (extension)',
    query: ListRequestsQuery,
    response: QueuedRequestList,
    what: 'request',
    list: (deps, tenantId, query) => listQueuedRequestObjects(deps.db, tenantId, query),
  }),
  retrieveOperation({
    path: '/v1/requests/{request_id}',
    operationId: 'retrieveRequest',
    summary: 'A queued request, with its response or error once its batch has it (extension)',
    response: QueuedRequestObject,
    what: 'request',
    param: 'request_id',
    find: (deps, tenantId, id) => retrieveQueuedRequest(deps.db, tenantId, id),
  }),
  defineOperation({
    method: 'post',
    path: '/v1/requests/{request_id}/cancel',
    operationId: 'cancelRequest',
    summary: 'Remove a request still queued (extension)',
    response: QueuedRequestObject,
    handle: ({ deps, tenantId, params }) => cancelRequest(deps.db, tenantId, params.request_id),
    refuse: {
      not_found: notFound('request', 'request_id'),
      not_cancellable: {
        status: 409,
        code: 'request_not_cancellable',
        message: ({ request }, { params }) =>
          request.batch_id === null
            ? `Request '${params.request_id}' has ended ${request.status}; there is nothing to cancel.`
            : `Request '${params.request_id}' is ${request.status} (batch ${request.batch_id}); cancel its batch instead.`,
      },
    },
    reply: (outcome) => outcome.request,
  }),
];

/**
 * `data` as a list, a single item in `data`, or one full item as the body itself; each item with its
 * text within `text`, the body as the client wrote it.
 */
function itemsOf(body: { data?: unknown; custom_id?: string; body?: unknown }, text: string): EnqueueItem[] {
  if (body.data !== undefined) {
    if (body.body !== undefined || body.custom_id !== undefined)
      throw invalidRequest("Give either 'data' or one item's 'custom_id' and 'body', not both.", 'data', 'invalid_value');
    const dataText = memberText(text, 'data')!;
    if (!Array.isArray(body.data)) return [{ value: body.data, text: dataText }];
    // One message list alone: langbatch's items are lists of messages, so a list of messages is one item.
    const isMessageList = body.data.length > 0 && body.data.every((m) => typeof m === 'object' && m !== null && !Array.isArray(m) && 'role' in m);
    if (isMessageList) return [{ value: body.data, text: dataText }];
    const texts = arrayElements(dataText);
    return body.data.map((value: unknown, i) => ({ value, text: texts[i]! }));
  }
  if (body.body !== undefined) {
    const members = [{ key: 'body', keyText: '"body"', valueText: memberText(text, 'body')! }];
    if (body.custom_id !== undefined) members.unshift(member('custom_id', body.custom_id));
    return [{ value: { ...(body.custom_id !== undefined ? { custom_id: body.custom_id } : {}), body: body.body }, text: objectText(members) }];
  }
  throw invalidRequest("Missing required parameter: 'data'.", 'data', 'missing_required_parameter');
}
