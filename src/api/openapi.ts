import { Router } from 'express';
import { z } from 'zod';
import { BatchErrorObject, BatchObject } from '../batches/object';
import { BatchResultsPage } from '../batches/results';
import { DeletedFileObject, FileObject } from '../files/object';
import { DeletedQueueObject, QueueObject, QueuedRequestObject } from '../queues/object';
import { CreateQueueBody, UpdateQueueBody } from '../queues/settings';
import { WebhookDeliveryObject } from '../webhooks/object';
import type { JsonSchema, Operation } from './operation';
import { OPERATIONS } from './operations';
import { UploadFileForm } from './resources/files';
import {
  BatchList,
  CreateBatchBody,
  EnqueueRequestsBody,
  EnqueueRequestsResponse,
  ErrorResponse,
  FileList,
  ModelList,
  QueueList,
  QueuedRequestList,
  RetryBatchBody,
  WebhookDeliveryList,
} from './schemas';

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

const IDEMPOTENCY_KEY_PARAMETER: JsonSchema = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description:
    'Extension: a retry with the same key and the same request within 24 hours returns the first call’s object (with `Idempotent-Replayed: true`) instead of creating another; another request with a used key is a 409. Keys are per tenant, 1 to 255 printable ASCII characters',
  schema: { type: 'string', minLength: 1, maxLength: 255 },
};

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid request',
  401: 'Missing or invalid API key',
  404: 'No such object for this API key (other tenants’ objects included)',
  409: 'Conflicts with the object’s current state',
  413: 'Upload larger than MAX_FILE_BYTES, or a JSON body over its limit',
  415: 'Unsupported Content-Type',
  429: 'Too many at once: retry after the Retry-After header’s seconds',
  503: 'A dependency is unavailable or the server is saturated: nothing was done; retry after the Retry-After header’s seconds',
};

/**
 * Every failure an operation may answer with: its own (declared in the table) and those it has
 * by its shape — authentication, parameters, a JSON body, an Idempotency-Key — and any operation
 * may meet a dependency that is away (README: Outages).
 */
export function failuresOf(op: Operation): Array<{ status: number; code: string }> {
  const json = op.body?.['application/json'] !== undefined;
  const failure = (status: number, ...codes: string[]) => codes.map((code) => ({ status, code }));
  return [
    ...failure(401, 'missing_api_key', 'invalid_api_key'),
    ...(op.query || op.body ? failure(400, 'invalid_value', 'missing_required_parameter') : []),
    ...(json ? [...failure(400, 'invalid_json', 'invalid_request'), ...failure(413, 'request_too_large'), ...failure(415, 'unsupported_content_type')] : []),
    ...(op.idempotent ? failure(400, 'invalid_idempotency_key') : []),
    ...op.failures,
    ...failure(503, 'database_unavailable', 'temporal_unavailable', 'server_overloaded'),
  ];
}

function errorResponses(op: Operation): Record<string, JsonSchema> {
  const codesByStatus = new Map<number, Set<string>>();
  for (const { status, code } of failuresOf(op)) codesByStatus.set(status, (codesByStatus.get(status) ?? new Set()).add(code));
  return Object.fromEntries(
    [...codesByStatus]
      .sort(([a], [b]) => a - b)
      .map(([status, codes]) => [
        String(status),
        {
          description: `${ERROR_DESCRIPTIONS[status]} (code: ${[...codes].join(', ')})`,
          content: { 'application/json': { schema: ref(ErrorResponse) } },
        },
      ]),
  );
}

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
      ...errorResponses(op),
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
