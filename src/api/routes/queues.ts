import { Router } from 'express';
import { createQueue, listQueueObjects, removeQueue, retrieveQueue, updateQueue, type QueueDeps, type QueueOutcome } from '../../queues/manage';
import { CreateQueueBody, requestKwargsText, UpdateQueueBody } from '../../queues/settings';
import { ApiError, invalidRequest, notFound, requireJsonObjectBody } from '../errors';
import { bodyTextOf } from '../jsonBody';
import { listObject } from '../pagination';
import { tenantOf } from '../tenant';
import { parseRequest } from '../validate';

/** `/v1/queues` (extension, stream-to-batch): create, list, retrieve, update and delete a tenant's queues. */
export function queuesRouter(deps: QueueDeps): Router {
  const router = Router();

  const answer = (outcome: QueueOutcome, name: string) => {
    if (outcome.kind === 'ok') return outcome.queue;
    if (outcome.kind === 'not_found') throw notFound('queue', name);
    if (outcome.kind === 'exists') {
      throw new ApiError(409, 'invalid_request_error', 'queue_exists', `Queue '${name}' already exists; change its settings with POST /v1/queues/${name}.`, 'name');
    }
    throw invalidRequest(outcome.message, outcome.param, outcome.code);
  };

  router.post('/queues', requireJsonObjectBody, async (req, res) => {
    const request = parseRequest(CreateQueueBody, req.body ?? {});
    const kwargs = requestKwargsText(request.request_kwargs, bodyTextOf(req));
    res.json(answer(await createQueue(deps, tenantOf(res), request, kwargs), request.name));
  });

  router.get('/queues', async (_req, res) => {
    const queues = await listQueueObjects(deps, tenantOf(res));
    res.json(listObject(queues, queues.length));
  });

  router.get('/queues/:queue', async (req, res) => {
    res.json(answer(await retrieveQueue(deps, tenantOf(res), req.params.queue), req.params.queue));
  });

  router.post('/queues/:queue', requireJsonObjectBody, async (req, res) => {
    // The JSON-body check before this handler hides the route's parameter types.
    const { queue } = req.params as { queue: string };
    const patch = parseRequest(UpdateQueueBody, req.body ?? {});
    const kwargs = requestKwargsText(patch.request_kwargs, bodyTextOf(req));
    res.json(answer(await updateQueue(deps, tenantOf(res), queue, patch, kwargs), queue));
  });

  router.delete('/queues/:queue', async (req, res) => {
    const outcome = await removeQueue(deps.db, tenantOf(res), req.params.queue);
    if (outcome === 'not_found') throw notFound('queue', req.params.queue);
    if (outcome === 'not_empty') {
      throw new ApiError(409, 'invalid_request_error', 'queue_not_empty', `Queue '${req.params.queue}' still holds queued requests; cancel them first.`);
    }
    res.json({ id: req.params.queue, object: 'queue.deleted', deleted: true });
  });

  return router;
}
