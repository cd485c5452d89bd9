import { z } from 'zod';
import { BATCH_STATUSES, hasRun, isTerminal } from '../states/batch';
import type { BatchRow } from '../store/batches';
import { BATCH_ENDPOINTS } from '../domain/endpoints';
import { publicWebhookConfig } from '../webhooks/config';
import { WEBHOOK_EVENT_TYPES } from '../states/webhook';
import { toUnixSeconds, toUnixSecondsOrNull, UnixSeconds } from '../unixTime';

const count = z.number().int().nonnegative();

export const BatchErrorObject = z.strictObject({
  code: z.string(),
  message: z.string(),
  param: z.string().nullable(),
  line: z.number().int().positive().nullable().describe('1-based line of the input file, when the error is about one line'),
});

/** The Batch object exactly as OpenAI documents it; the OpenAPI document and the tests use this schema. */
export const BatchObject = z.strictObject({
  id: z.string(),
  object: z.literal('batch'),
  endpoint: z.enum(BATCH_ENDPOINTS),
  model: z.string().nullable(),
  errors: z.strictObject({ object: z.literal('list'), data: z.array(BatchErrorObject) }).nullable(),
  input_file_id: z.string(),
  completion_window: z.string(),
  status: z.enum(BATCH_STATUSES),
  output_file_id: z.string().nullable(),
  error_file_id: z.string().nullable(),
  created_at: UnixSeconds,
  in_progress_at: UnixSeconds.nullable(),
  expires_at: UnixSeconds.nullable(),
  finalizing_at: UnixSeconds.nullable(),
  completed_at: UnixSeconds.nullable(),
  failed_at: UnixSeconds.nullable(),
  expired_at: UnixSeconds.nullable(),
  cancelling_at: UnixSeconds.nullable(),
  cancelled_at: UnixSeconds.nullable(),
  request_counts: z.strictObject({ total: count, completed: count, failed: count }),
  usage: z.strictObject({ input_tokens: count, output_tokens: count, total_tokens: count }),
  metadata: z.record(z.string(), z.string()).nullable(),
  webhook: z.strictObject({ url: z.string(), events: z.array(z.enum(WEBHOOK_EVENT_TYPES)) }).nullable(),
  retry_of: z.string().nullable().describe('Extension: the batch whose failed lines this batch retries (POST /v1/batches/{batch_id}/retry).'),
  retries: z.array(z.string()).describe("Extension: the batches created to retry this batch's failed lines, oldest first."),
});
export type BatchObject = z.infer<typeof BatchObject>;

/** `retries`: the batches retrying its failed lines, which only the reads (retrieve, list) look up; a batch just created or cancelled has none. */
export function toBatchObject(row: BatchRow, retries: string[] = []): BatchObject {
  // A batch reports requests once it has run (its head's, while it validates, are not its own yet;
  // cancelled while validating, they read 0 until they are dropped).
  const counted = hasRun(row);
  return {
    id: row.id,
    object: 'batch',
    endpoint: row.endpoint as BatchObject['endpoint'],
    model: row.model,
    errors: row.errors && row.errors.length > 0 ? { object: 'list', data: row.errors } : null,
    input_file_id: row.input_file_id,
    completion_window: row.completion_window,
    status: row.status,
    // Written while the batch runs, the files appear once it has ended.
    output_file_id: isTerminal(row.status) ? row.output_file_id : null,
    error_file_id: isTerminal(row.status) ? row.error_file_id : null,
    created_at: toUnixSeconds(row.created_at),
    in_progress_at: toUnixSecondsOrNull(row.in_progress_at),
    expires_at: toUnixSecondsOrNull(row.expires_at),
    finalizing_at: toUnixSecondsOrNull(row.finalizing_at),
    completed_at: toUnixSecondsOrNull(row.completed_at),
    failed_at: toUnixSecondsOrNull(row.failed_at),
    expired_at: toUnixSecondsOrNull(row.expired_at),
    cancelling_at: toUnixSecondsOrNull(row.cancelling_at),
    cancelled_at: toUnixSecondsOrNull(row.cancelled_at),
    request_counts: {
      total: row.total_requests,
      completed: counted ? row.completed_requests : 0,
      failed: counted ? row.failed_requests : 0,
    },
    usage: {
      input_tokens: counted ? row.input_tokens : 0,
      output_tokens: counted ? row.output_tokens : 0,
      total_tokens: counted ? row.input_tokens + row.output_tokens : 0,
    },
    metadata: row.metadata,
    webhook: row.webhook ? publicWebhookConfig(row.webhook) : null,
    retry_of: row.retry_of,
    retries,
  };
}
