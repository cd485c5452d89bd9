import { z } from 'zod';
import { BATCH_ENDPOINTS, DEFAULT_COMPLETION_WINDOW, DEFAULT_ENDPOINT } from '../domain/endpoints';
import { BatchObject } from '../batches/object';
import { WebhookConfigSchema } from '../webhooks/config';
import { WebhookDeliveryObject } from '../webhooks/object';
import { completionWindowSeconds } from '../domain/window';
import { BATCH_PRIORITIES } from '../domain/priority';
import { FileObject, UPLOAD_PURPOSES } from '../files/object';
import { QueueObject, QueuedRequestObject } from '../queues/object';
import { QueueName } from '../queues/settings';
import { REQUEST_STATUSES } from '../states/request';
import { ERROR_TYPES } from './errors';

/**
 * Request schemas: the routes validate with these, and /openapi.json is generated from them, so the
 * document cannot drift from what the server accepts. Response objects live beside their mappers
 * (src/files/object.ts, src/batches/object.ts).
 */

/** Query strings arrive as text; a repeated parameter arrives as an array and fails as NaN. */
const pageLimit = (max: number, fallback: number) => z.coerce.number().int().min(1).max(max).default(fallback);
const cursor = z.string().min(1);

/** OpenAI's expiration policies: `seconds`, 1 hour to 30 days, after `anchor`, which is always `created_at`. */
const ExpirySeconds = z.coerce.number().int().min(3600).max(2_592_000);
const ExpiresAfter = z.strictObject({ anchor: z.literal('created_at'), seconds: ExpirySeconds });

export const CreateBatchBody = z.object({
  input_file_id: z.string().min(1).describe('ID of an uploaded file with purpose `batch`'),
  endpoint: z
    .enum(BATCH_ENDPOINTS)
    .default(DEFAULT_ENDPOINT)
    .describe('Defaults to /v1/chat/completions (extension); /v1/score and /v1/rerank are vLLM endpoints (extension)'),
  completion_window: z
    .string()
    .default(DEFAULT_COMPLETION_WINDOW)
    .refine((w) => completionWindowSeconds(w) !== undefined, 'must be 24h or a duration like 90s, 30m, 12h, 7d, at most 30d')
    .describe('`24h`, or (extension) a duration `<n>s|m|h|d`'),
  metadata: z
    .record(z.string().max(64), z.string().max(512))
    .refine((m) => Object.keys(m).length <= 16, 'must have at most 16 keys')
    .refine((m) => m.priority === undefined || (BATCH_PRIORITIES as readonly string[]).includes(m.priority), {
      message: 'must be 1 (first) to 5 (last)',
      path: ['priority'],
    })
    .nullable()
    .optional()
    .describe(
      'Up to 16 string pairs; `metadata.model` sets the model for lines whose body names none, `metadata.priority` (1 first … 5 last, default 3) orders the batch among others (extensions)',
    ),
  model: z.string().min(1).optional().describe('Extension: model for lines whose body names none'),
  webhook: WebhookConfigSchema.nullable().optional().describe('Extension: notify this URL of batch events'),
  output_expires_after: ExpiresAfter.optional().describe('The output and error files are deleted `seconds` after their creation'),
});

export const RetryBatchBody = z.strictObject({
  codes: z
    .array(z.string().min(1).max(64))
    .min(1)
    .max(50)
    .optional()
    .describe(
      'Only the failed lines with one of these codes: an error `code` (e.g. `rate_limited`, `server_error`, `batch_expired`), or `http_<status>` for a non-2xx response. All failed lines when unset',
    ),
});

export const BatchResultsQuery = z.object({
  // Line numbers are PostgreSQL integers: a larger cursor names no line, and must not reach a query.
  after: z.coerce.number().int().min(0).max(2_147_483_647).default(0).describe('Line number after which to start: 0, then the previous page’s `last_line`'),
  limit: pageLimit(1000, 100),
});

export const ListBatchesQuery = z.object({
  after: cursor.optional().describe('ID of the last batch of the previous page'),
  limit: pageLimit(100, 20),
});

export const ListFilesQuery = z.object({
  purpose: z.string().min(1).optional(),
  limit: pageLimit(10_000, 10_000),
  order: z.enum(['asc', 'desc']).default('desc').describe('By created_at'),
  after: cursor.optional().describe('ID of the last file of the previous page'),
});

/**
 * An upload's fields besides its content: `expires_after` arrives one field per key, as the SDKs
 * encode it in a multipart form (`expires_after[anchor]`, `expires_after[seconds]`).
 */
const uploadFields = {
  purpose: z.enum(UPLOAD_PURPOSES),
  'expires_after[anchor]': z.literal('created_at').optional().describe('`created_at`, with `expires_after[seconds]`'),
  'expires_after[seconds]': ExpirySeconds.optional().describe('The file is deleted this long after its creation: 3600 (1 hour) to 2592000 (30 days)'),
};
const bothOrNeither = (fields: { 'expires_after[anchor]'?: string; 'expires_after[seconds]'?: number }) =>
  (fields['expires_after[anchor]'] === undefined) === (fields['expires_after[seconds]'] === undefined);
const expiryPair = { message: 'expires_after needs both anchor and seconds', path: ['expires_after[seconds]'] };

/** The multipart form of an upload, besides its `file` part. */
export const UploadFileFields = z.object(uploadFields).refine(bothOrNeither, expiryPair);

/** Extension: a raw `application/jsonl` upload names its purpose, filename and expiry in the query string. */
export const UploadFileQuery = z
  .object({ ...uploadFields, filename: z.string().optional().describe('Stored without directories or control characters') })
  .refine(bothOrNeither, expiryPair);

/** Stream-to-batch: what `POST /v1/requests` takes (items are checked one by one after this). */
export const EnqueueRequestsBody = z.strictObject({
  queue: QueueName.optional().describe('Queue name (or `?queue=`), default `default`'),
  data: z
    .union([z.array(z.unknown()), z.record(z.string(), z.unknown()), z.string()])
    .optional()
    .describe(
      "The requests: each a message list (langbatch's partial request), a string, a body completed with the queue's request_kwargs, or a full item {custom_id?, body}; one item alone needs no list",
    ),
  custom_id: z.string().optional().describe('With `body`: one full item without `data`'),
  body: z.record(z.string(), z.unknown()).optional(),
});

export const EnqueueRequestsQuery = z.object({ queue: QueueName.optional() });

export const EnqueueRequestsResponse = z.strictObject({
  status: z.literal('success').describe("langbatch's answer, kept for its clients"),
  queue: z.string(),
  request_ids: z.array(z.string()).describe('The new requests, in input order'),
});

export const ListRequestsQuery = z.object({
  queue: QueueName.optional(),
  status: z.enum(REQUEST_STATUSES).optional(),
  after: cursor.optional().describe('ID of the last request of the previous page'),
  limit: pageLimit(1000, 100),
  order: z.enum(['asc', 'desc']).default('desc').describe('By enqueue order'),
});

export const ErrorResponse = z.strictObject({
  error: z.strictObject({
    message: z.string(),
    type: z.enum(ERROR_TYPES),
    param: z.string().nullable(),
    code: z.string().nullable(),
  }),
});

/** OpenAI's cursor list object. */
export const listSchema = <T extends z.ZodType>(item: T) =>
  z.strictObject({
    object: z.literal('list'),
    data: z.array(item),
    first_id: z.string().nullable(),
    last_id: z.string().nullable(),
    has_more: z.boolean(),
  });

export const ModelList = z.strictObject({
  object: z.literal('list'),
  data: z.array(
    z.strictObject({
      id: z.string(),
      object: z.literal('model'),
      created: z.number().int(),
      owned_by: z.string(),
      endpoints: z.array(z.enum(BATCH_ENDPOINTS)).describe('Extension: the batch endpoints live GPU workers serve this model for'),
    }),
  ),
});

export const FileList = listSchema(FileObject);
export const BatchList = listSchema(BatchObject);
export const WebhookDeliveryList = listSchema(WebhookDeliveryObject);
export const QueueList = listSchema(QueueObject);
export const QueuedRequestList = listSchema(QueuedRequestObject);
