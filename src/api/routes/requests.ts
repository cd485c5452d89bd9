import { Router } from 'express';
import { arrayElements, member, memberText, objectText } from '../../jsonText';
import { enqueueRequests, type EnqueueDeps, type EnqueueItem } from '../../queues/enqueue';
import { cancelRequest, listQueuedRequestObjects, retrieveQueuedRequest } from '../../queues/requests';
import { DEFAULT_QUEUE } from '../../queues/settings';
import { ApiError, invalidRequest, notFound, requireJsonObjectBody } from '../errors';
import { bodyTextOf } from '../jsonBody';
import { listObject, unknownCursor } from '../pagination';
import { EnqueueRequestsBody, EnqueueRequestsQuery, ListRequestsQuery } from '../schemas';
import { tenantOf } from '../tenant';
import { parseRequest } from '../validate';

/** `/v1/requests` (extension, stream-to-batch): enqueue single requests, follow and cancel them. */
export function requestsRouter(deps: EnqueueDeps & { maxRequestsPerCall: number }): Router {
  const router = Router();

  router.post('/requests', requireJsonObjectBody, async (req, res) => {
    // Bodies are stored as JSON text, so any valid JSON inside them is kept: only the schema checks.
    const body = parseRequest(EnqueueRequestsBody, req.body ?? {}, { textChecks: false });
    const queue = body.queue ?? parseRequest(EnqueueRequestsQuery, req.query).queue ?? DEFAULT_QUEUE;
    const items = itemsOf(body, bodyTextOf(req));
    if (items.length === 0) throw invalidRequest("'data' holds no request.", 'data', 'invalid_value');
    if (items.length > deps.maxRequestsPerCall) {
      throw invalidRequest(`At most ${deps.maxRequestsPerCall} requests per call (MAX_REQUESTS_PER_CALL); this one has ${items.length}.`, 'data', 'too_many_requests');
    }
    const outcome = await enqueueRequests(deps, tenantOf(res), queue, items);
    if (outcome.kind === 'queue_not_found') throw notFound('queue', queue);
    if (outcome.kind === 'invalid_item') throw invalidRequest(outcome.message, outcome.param, outcome.code);
    if (outcome.kind === 'queue_full') {
      res.setHeader('Retry-After', String(outcome.retryAfterSeconds));
      throw new ApiError(
        429,
        'rate_limit_error',
        'queue_full',
        `The tenant has ${outcome.queued} requests queued and this call adds ${outcome.adding}: more than the limit of ${outcome.limit} (MAX_QUEUED_REQUESTS_PER_TENANT); retry later.`,
      );
    }
    res.json({ status: 'success', queue: outcome.queue, request_ids: outcome.ids });
  });

  router.get('/requests', async (req, res) => {
    const query = parseRequest(ListRequestsQuery, req.query);
    const requests = await listQueuedRequestObjects(deps.db, tenantOf(res), query);
    if (!requests) throw unknownCursor('request', query.after!);
    res.json(listObject(requests, query.limit));
  });

  router.get('/requests/:id', async (req, res) => {
    const request = await retrieveQueuedRequest(deps.db, tenantOf(res), req.params.id);
    if (!request) throw notFound('request', req.params.id);
    res.json(request);
  });

  router.post('/requests/:id/cancel', async (req, res) => {
    const outcome = await cancelRequest(deps.db, tenantOf(res), req.params.id);
    if (outcome.kind === 'not_found') throw notFound('request', req.params.id);
    if (outcome.kind === 'not_cancellable') {
      throw new ApiError(
        409,
        'invalid_request_error',
        'request_not_cancellable',
        outcome.request.batch_id === null
          ? `Request '${req.params.id}' has ended ${outcome.request.status}; there is nothing to cancel.`
          : `Request '${req.params.id}' is ${outcome.request.status} (batch ${outcome.request.batch_id}); cancel its batch instead.`,
      );
    }
    res.json(outcome.request);
  });

  return router;
}

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
