import { listTargetableModels } from '../../batches/models';
import { defineOperation } from '../operation';
import { ModelList } from '../schemas';

/** `/v1/models`: the models live GPU workers serve, what a batch may target right now. */
export const modelOperations = [
  defineOperation({
    method: 'get',
    path: '/v1/models',
    operationId: 'listModels',
    summary: 'Models the live GPU workers serve',
    response: ModelList,
    handle: async ({ deps }) => ({ kind: 'list', data: await listTargetableModels(deps.db) }),
    refuse: {},
    reply: ({ data }) => ({ object: 'list', data }),
  }),
];
