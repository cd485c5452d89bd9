import { Router } from 'express';
import { z } from 'zod';
import { BatchErrorObject, BatchObject } from '../batches/object';
import { BatchResultsPage } from '../batches/results';
import { DeletedFileObject, FileObject } from '../files/object';
import {
  BatchList,
  CreateBatchBody,
  RetryBatchBody,
  BatchResultsQuery,
  ErrorResponse,
  FileList,
  ListBatchesQuery,
  ListFilesQuery,
  ModelList,
  UploadFileFields,
  UploadFileQuery,
  WebhookDeliveryList,
  QueueList,
  QueuedRequestList,
  EnqueueRequestsBody,
  EnqueueRequestsQuery,
  EnqueueRequestsResponse,
  ListRequestsQuery,
} from './schemas';
import { DeletedQueueObject, QueueObject, QueuedRequestObject } from '../queues/object';
import { CreateQueueBody, UpdateQueueBody } from '../queues/settings';
import { WebhookDeliveryObject } from '../webhooks/object';

type JsonSchema = Record<string, unknown>;

const UploadFileForm = UploadFileFields.extend({
  file: z.string().meta({ format: 'binary' }).describe('The JSONL file; its filename is kept, sanitised'),
});

/** Every schema the document names, under the name it appears with in components. */
const COMPONENTS = new Map<z.ZodType, string>([
  [FileObject, 'File'],
  [DeletedFileObject, 'DeletedFile'],
  [FileList, 'FileList'],
  [UploadFileForm, 'UploadFileForm'],
  [BatchErrorObject, 'BatchError'],
  [BatchObject, 'Batch'],
  [BatchList, 'BatchList'],
  [CreateBatchBody, 'CreateBatchRequest'],
  [RetryBatchBody, 'RetryBatchRequest'],
  [BatchResultsPage, 'BatchResultsPage'],
  [ModelList, 'ModelList'],
  [WebhookDeliveryObject, 'WebhookDelivery'],
  [WebhookDeliveryList, 'WebhookDeliveryList'],
  [QueueObject, 'Queue'],
  [QueueList, 'QueueList'],
  [CreateQueueBody, 'CreateQueueRequest'],
  [UpdateQueueBody, 'UpdateQueueRequest'],
  [DeletedQueueObject, 'DeletedQueue'],
  [QueuedRequestObject, 'QueuedRequest'],
  [QueuedRequestList, 'QueuedRequestList'],
  [EnqueueRequestsBody, 'EnqueueRequestsRequest'],
  [EnqueueRequestsResponse, 'EnqueueRequestsResponse'],
  [ErrorResponse, 'Error'],
]);

type Operation = {
  method: 'get' | 'post' | 'delete';
  path: string;
  operationId: string;
  summary: string;
  query?: { schema: z.ZodObject; onlyFor?: string };
  body?: Record<string, z.ZodType | JsonSchema>;
  /** A named schema for JSON, or a raw schema for another content type. */
  response: z.ZodType | { contentType: string; schema: JsonSchema };
  errors: number[];
  /** Takes an Idempotency-Key header (extension). */
  idempotent?: boolean;
};

const IDEMPOTENCY_KEY_PARAMETER: JsonSchema = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description:
    'Extension: a retry with the same key and the same request within 24 hours returns the first call’s object (with `Idempotent-Replayed: true`) instead of creating another; another request with a used key is a 409. Keys are per tenant, 1 to 255 printable ASCII characters',
  schema: { type: 'string', minLength: 1, maxLength: 255 },
};

const binary: JsonSchema = { type: 'string', format: 'binary' };

const OPERATIONS: Operation[] = [
  {
    method: 'post',
    path: '/v1/files',
    operationId: 'createFile',
    summary: 'Upload a JSONL file: multipart form (OpenAI), or a raw application/jsonl body (extension)',
    query: { schema: UploadFileQuery, onlyFor: 'raw application/jsonl uploads' },
    body: { 'multipart/form-data': UploadFileForm, 'application/jsonl': binary, 'application/x-ndjson': binary },
    response: FileObject,
    errors: [400, 401, 409, 413, 415],
    idempotent: true,
  },
  { method: 'get', path: '/v1/files', operationId: 'listFiles', summary: 'List files', query: { schema: ListFilesQuery }, response: FileList, errors: [400, 401] },
  { method: 'get', path: '/v1/files/{file_id}', operationId: 'retrieveFile', summary: 'Retrieve a file', response: FileObject, errors: [401, 404] },
  {
    method: 'delete',
    path: '/v1/files/{file_id}',
    operationId: 'deleteFile',
    summary: 'Delete a file (refused while it is the input of a validating batch)',
    response: DeletedFileObject,
    errors: [401, 404, 409],
  },
  {
    method: 'get',
    path: '/v1/files/{file_id}/content',
    operationId: 'downloadFile',
    summary: 'The file content, byte for byte',
    response: { contentType: 'application/octet-stream', schema: binary },
    errors: [401, 404],
  },
  {
    method: 'post',
    path: '/v1/batches',
    operationId: 'createBatch',
    summary: 'Create a batch from an uploaded file',
    body: { 'application/json': CreateBatchBody },
    response: BatchObject,
    errors: [400, 401, 409, 415],
    idempotent: true,
  },
  {
    method: 'get',
    path: '/v1/batches',
    operationId: 'listBatches',
    summary: 'List batches, newest first',
    query: { schema: ListBatchesQuery },
    response: BatchList,
    errors: [400, 401],
  },
  { method: 'get', path: '/v1/batches/{batch_id}', operationId: 'retrieveBatch', summary: 'Retrieve a batch', response: BatchObject, errors: [401, 404] },
  {
    method: 'post',
    path: '/v1/batches/{batch_id}/cancel',
    operationId: 'cancelBatch',
    summary: 'Cancel a batch',
    response: BatchObject,
    errors: [401, 404, 409],
  },
  {
    method: 'get',
    path: '/v1/batches/{batch_id}/results',
    operationId: 'listBatchResults',
    summary: 'The lines finished so far, in input order, each exactly as in the output or error file; page on with `after=last_line` (extension)',
    query: { schema: BatchResultsQuery },
    response: BatchResultsPage,
    errors: [400, 401, 404, 409],
  },
  {
    method: 'post',
    path: '/v1/batches/{batch_id}/retry',
    operationId: 'retryBatch',
    summary: "A new batch of a finished batch's failed lines: same custom_ids, bodies, endpoint and metadata, with `retry_of` (extension)",
    body: { 'application/json': RetryBatchBody },
    response: BatchObject,
    errors: [400, 401, 404, 409, 415],
    idempotent: true,
  },
  {
    method: 'get',
    path: '/v1/batches/{batch_id}/webhook_deliveries',
    operationId: 'listWebhookDeliveries',
    summary: 'Webhook deliveries of a batch, each with every attempt (extension)',
    response: WebhookDeliveryList,
    errors: [401, 404],
  },
  {
    method: 'post',
    path: '/v1/batches/{batch_id}/webhook_deliveries/{delivery_id}/replay',
    operationId: 'replayWebhookDelivery',
    summary: 'Deliver a failed webhook event again (extension); one pending or delivered is a 409',
    response: WebhookDeliveryObject,
    errors: [401, 404, 409],
  },
  { method: 'get', path: '/v1/models', operationId: 'listModels', summary: 'Models the live GPU workers serve', response: ModelList, errors: [401] },
  {
    method: 'post',
    path: '/v1/queues',
    operationId: 'createQueue',
    summary: 'Create a stream-to-batch queue (extension)',
    body: { 'application/json': CreateQueueBody },
    response: QueueObject,
    errors: [400, 401, 409, 415],
  },
  { method: 'get', path: '/v1/queues', operationId: 'listQueues', summary: 'The queues, `default` included (extension)', response: QueueList, errors: [401] },
  {
    method: 'get',
    path: '/v1/queues/{queue}',
    operationId: 'retrieveQueue',
    summary: 'A queue, its settings and state (extension)',
    response: QueueObject,
    errors: [401, 404],
  },
  {
    method: 'post',
    path: '/v1/queues/{queue}',
    operationId: 'updateQueue',
    summary: 'Change settings of a queue; null returns one to its default (extension)',
    body: { 'application/json': UpdateQueueBody },
    response: QueueObject,
    errors: [400, 401, 404, 415],
  },
  {
    method: 'delete',
    path: '/v1/queues/{queue}',
    operationId: 'deleteQueue',
    summary: 'Delete a queue holding no queued request; deleting `default` resets its settings (extension)',
    response: DeletedQueueObject,
    errors: [401, 404, 409],
  },
  {
    method: 'post',
    path: '/v1/requests',
    operationId: 'enqueueRequests',
    summary: "Queue requests, dispatched as batches by size and age (extension; langbatch's POST /requests)",
    query: { schema: EnqueueRequestsQuery },
    body: { 'application/json': EnqueueRequestsBody },
    response: EnqueueRequestsResponse,
    errors: [400, 401, 404, 413, 415, 429],
  },
  {
    method: 'get',
    path: '/v1/requests',
    operationId: 'listRequests',
    summary: 'List queued requests, newest first (extension)',
    query: { schema: ListRequestsQuery },
    response: QueuedRequestList,
    errors: [400, 401],
  },
  {
    method: 'get',
    path: '/v1/requests/{request_id}',
    operationId: 'retrieveRequest',
    summary: 'A queued request, with its response or error once its batch has it (extension)',
    response: QueuedRequestObject,
    errors: [401, 404],
  },
  {
    method: 'post',
    path: '/v1/requests/{request_id}/cancel',
    operationId: 'cancelRequest',
    summary: 'Remove a request still queued (extension)',
    response: QueuedRequestObject,
    errors: [401, 404, 409],
  },
];

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid request',
  401: 'Missing or invalid API key',
  404: 'No such object for this API key (other tenants’ objects included)',
  409: 'Conflicts with the object’s current state',
  413: 'Upload larger than MAX_FILE_BYTES, or a JSON body over its limit',
  429: 'Too many at once: retry after the Retry-After header’s seconds',
  415: 'Unsupported Content-Type',
  503: 'A dependency is unavailable (database_unavailable, temporal_unavailable) or the server is saturated (server_overloaded): nothing was done; retry after the Retry-After header’s seconds',
};

/** Any operation may meet a dependency that is away (README: Outages). */
const ALWAYS_POSSIBLE_ERRORS = [503];

const ref = (schema: z.ZodType): JsonSchema => {
  const name = COMPONENTS.get(schema);
  if (!name) throw new Error('schema used in the OpenAPI document is not a named component');
  return { $ref: `#/components/schemas/${name}` };
};
const schemaOrRef = (schema: z.ZodType | JsonSchema) => (schema instanceof z.ZodType ? ref(schema) : schema);

function componentSchemas(): Record<string, JsonSchema> {
  const registry = z.registry<{ id: string }>();
  for (const [schema, id] of COMPONENTS) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, { io: 'input', uri: (id) => `#/components/schemas/${id}` });
  return Object.fromEntries(Object.entries(schemas).map(([id, { $schema: _s, $id: _i, ...schema }]) => [id, schema as JsonSchema]));
}

function queryParameters(query: NonNullable<Operation['query']>): JsonSchema[] {
  const { properties = {}, required = [] } = z.toJSONSchema(query.schema, { io: 'input' }) as {
    properties?: Record<string, JsonSchema>;
    required?: string[];
  };
  return Object.entries(properties).map(([name, { description, ...schema }]) => {
    const notes = [query.onlyFor && `For ${query.onlyFor}`, description].filter(Boolean);
    return {
      name,
      in: 'query',
      required: query.onlyFor === undefined && required.includes(name),
      ...(notes.length > 0 ? { description: notes.join('. ') } : {}),
      schema,
    };
  });
}

function operationObject(op: Operation): JsonSchema {
  const pathParams = [...op.path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({ name, in: 'path', required: true, schema: { type: 'string' } }));
  const parameters = [...pathParams, ...(op.query ? queryParameters(op.query) : []), ...(op.idempotent ? [IDEMPOTENCY_KEY_PARAMETER] : [])];
  const success = op.response instanceof z.ZodType ? { 'application/json': { schema: ref(op.response) } } : { [op.response.contentType]: { schema: op.response.schema } };
  return {
    operationId: op.operationId,
    summary: op.summary,
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(op.body
      ? {
          requestBody: {
            required: true,
            content: Object.fromEntries(Object.entries(op.body).map(([type, schema]) => [type, { schema: schemaOrRef(schema) }])),
          },
        }
      : {}),
    responses: {
      200: { description: 'OK', content: success },
      ...Object.fromEntries(
        [...op.errors, ...ALWAYS_POSSIBLE_ERRORS].map((status) => [
          status,
          { description: ERROR_DESCRIPTIONS[status], content: { 'application/json': { schema: ref(ErrorResponse) } } },
        ]),
      ),
    },
  };
}

export function openApiDocument(): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const op of OPERATIONS) (paths[op.path] ??= {})[op.method] = operationObject(op);
  return {
    openapi: '3.1.0',
    info: {
      title: 'vLLM Batch Server',
      version: '1',
      description:
        'OpenAI Files and Batches API on your own GPUs. Every error has the shape {"error":{"message","type","param","code"}}. ' +
        'Without any API key configured the server runs in open single-tenant mode and ignores the Authorization header.',
    },
    security: [{ bearerAuth: [] }],
    paths,
    components: {
      schemas: componentSchemas(),
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } },
    },
  };
}

/** The OpenAPI 3.1 document, generated once from the schemas the routes validate with. */
export function openApiRouter(): Router {
  const document = openApiDocument();
  const router = Router();
  router.get('/openapi.json', (_req, res) => {
    res.json(document);
  });
  return router;
}
