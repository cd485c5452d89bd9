import { createQueue, listQueueObjects, removeQueue, retrieveQueue, updateQueue, type InvalidSettings } from '../../queues/manage';
import { CreateQueueBody, requestKwargsText, UpdateQueueBody } from '../../queues/settings';
import { DeletedQueueObject, QueueObject } from '../../queues/object';
import { bodyTextOf } from '../jsonBody';
import type { Request } from 'express';
import { defineOperation, notFound, type Refusal } from '../operation';
import { listObject } from '../pagination';
import { QueueList } from '../schemas';
import { parseRequest } from '../validate';

/** A settings change the queue's rules refuse (a bad model, a threshold above the batch limit): 400 naming the setting. */
const invalidSettings: Refusal<InvalidSettings, unknown> = {
  status: 400,
  code: (o) => o.code,
  codes: ['invalid_value', 'invalid_webhook_url'],
  message: (o) => o.message,
  param: (o) => o.param,
};

/** The name a create call gave its queue, its body validated already. */
const nameOf = (req: Request) => (req.body as { name: string }).name;

/** `/v1/queues` (extension, stream-to-batch): create, list, retrieve, update and delete a tenant's queues. */
export const queueOperations = [
  defineOperation({
    method: 'post',
    path: '/v1/queues',
    operationId: 'createQueue',
    summary: 'Create a stream-to-batch queue (extension)',
    body: { 'application/json': CreateQueueBody },
    response: QueueObject,
    handle: ({ deps, tenantId, req }) => {
      const request = parseRequest(CreateQueueBody, req.body ?? {});
      return createQueue({ ...deps, ...deps.queues }, tenantId, request, requestKwargsText(request.request_kwargs, bodyTextOf(req)));
    },
    refuse: {
      exists: {
        status: 409,
        code: 'queue_exists',
        message: (_o, { req }) => `Queue '${nameOf(req)}' already exists; change its settings with POST /v1/queues/${nameOf(req)}.`,
        param: () => 'name',
      },
      // Deleted between its creation and the read that answers it.
      not_found: { status: 404, code: 'not_found', message: (_o, { req }) => `No such queue: '${nameOf(req)}'` },
      invalid: invalidSettings,
    },
    reply: (outcome) => outcome.queue,
  }),
  defineOperation({
    method: 'get',
    path: '/v1/queues',
    operationId: 'listQueues',
    summary: 'The queues, `default` included (extension)',
    response: QueueList,
    handle: async ({ deps, tenantId }) => ({ kind: 'list', queues: await listQueueObjects({ ...deps, ...deps.queues }, tenantId) }),
    refuse: {},
    reply: ({ queues }) => listObject(queues, queues.length),
  }),
  defineOperation({
    method: 'get',
    path: '/v1/queues/{queue}',
    operationId: 'retrieveQueue',
    summary: 'A queue, its settings and state (extension)',
    response: QueueObject,
    handle: ({ deps, tenantId, params }) => retrieveQueue({ ...deps, ...deps.queues }, tenantId, params.queue),
    refuse: { not_found: notFound('queue', 'queue') },
    reply: (outcome) => outcome.queue,
  }),
  defineOperation({
    method: 'post',
    path: '/v1/queues/{queue}',
    operationId: 'updateQueue',
    summary: 'Change settings of a queue; null returns one to its default (extension)',
    body: { 'application/json': UpdateQueueBody },
    response: QueueObject,
    handle: ({ deps, tenantId, params, req }) => {
      const patch = parseRequest(UpdateQueueBody, req.body ?? {});
      return updateQueue({ ...deps, ...deps.queues }, tenantId, params.queue, patch, requestKwargsText(patch.request_kwargs, bodyTextOf(req)));
    },
    refuse: { not_found: notFound('queue', 'queue'), invalid: invalidSettings },
    reply: (outcome) => outcome.queue,
  }),
  defineOperation({
    method: 'delete',
    path: '/v1/queues/{queue}',
    operationId: 'deleteQueue',
    summary: 'Delete a queue holding no queued request; deleting `default` resets its settings (extension)',
    response: DeletedQueueObject,
    handle: async ({ deps, tenantId, params }) => ({ kind: await removeQueue(deps.db, tenantId, params.queue) }),
    refuse: {
      not_found: notFound('queue', 'queue'),
      not_empty: {
        status: 409,
        code: 'queue_not_empty',
        message: (_o, { params }) => `Queue '${params.queue}' still holds queued requests; cancel them first.`,
      },
    },
    reply: (_outcome, { params }) => ({ id: params.queue, object: 'queue.deleted', deleted: true }),
  }),
];
