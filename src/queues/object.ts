import { z } from 'zod';
import { BATCH_ENDPOINTS } from '../domain/endpoints';
import { neverExecutedCode, outputLine } from '../batches/outputLines';
import { REQUEST_STATUSES } from '../states/request';
import { WEBHOOK_EVENT_TYPES } from '../states/webhook';
import type { QueuedRequestRow } from '../store/queuedRequests';
import type { QueueWithStats } from '../store/queues';
import { toUnixSeconds, toUnixSecondsOrNull, UnixSeconds } from '../unixTime';
import { publicWebhookConfig } from '../webhooks/config';
import { effectiveSettings, type QueueDefaults } from './settings';

/** A queue: its settings as it runs with them, and its live state. */
export const QueueObject = z.strictObject({
  id: z.string().describe('The name, which identifies a queue within its tenant'),
  object: z.literal('queue'),
  name: z.string(),
  model: z.string().nullable(),
  endpoint: z.enum(BATCH_ENDPOINTS),
  request_kwargs: z.record(z.string(), z.unknown()),
  queue_threshold: z.number().int(),
  time_threshold: z.number().describe('Seconds'),
  time_interval: z.number().describe('Seconds'),
  completion_window: z.string(),
  max_batch_size: z.number().int(),
  webhook: z.strictObject({ url: z.string(), events: z.array(z.enum(WEBHOOK_EVENT_TYPES)) }).nullable(),
  created_at: UnixSeconds,
  pending_requests: z.number().int().describe('Requests queued, not yet in a batch'),
  oldest_pending_at: UnixSeconds.nullable().describe('When the oldest pending request was queued'),
  last_dispatch_at: UnixSeconds.nullable(),
  batches_dispatched: z.number().int(),
  batches_in_flight: z.number().int().describe('Batches of this queue not yet in a final status'),
});
export type QueueObject = z.infer<typeof QueueObject>;

export function toQueueObject(row: QueueWithStats, defaults: QueueDefaults): QueueObject {
  const settings = effectiveSettings(row, defaults);
  return {
    id: row.name,
    object: 'queue',
    name: row.name,
    ...settings,
    request_kwargs: JSON.parse(settings.request_kwargs) as Record<string, unknown>,
    webhook: settings.webhook && publicWebhookConfig(settings.webhook),
    created_at: toUnixSeconds(row.created_at),
    pending_requests: row.queued,
    oldest_pending_at: toUnixSecondsOrNull(row.oldest_queued_at),
    last_dispatch_at: toUnixSecondsOrNull(row.last_dispatch_at),
    batches_dispatched: row.dispatch_count,
    batches_in_flight: row.batches_in_flight,
  };
}

export const DeletedQueueObject = z.strictObject({ id: z.string(), object: z.literal('queue.deleted'), deleted: z.literal(true) });

/** `response` and `error` exactly as the request's line of the batch output (or error) file has them. */
const ResultResponse = z.strictObject({ status_code: z.number().int(), request_id: z.string(), body: z.unknown() });
const ResultError = z.strictObject({ code: z.string(), message: z.string() });

/** A queued request (stream-to-batch) and, once its batch has it, its result. */
export const QueuedRequestObject = z.strictObject({
  id: z.string(),
  object: z.literal('queue.request'),
  queue: z.string(),
  custom_id: z.string(),
  model: z.string(),
  status: z.enum(REQUEST_STATUSES),
  batch_id: z.string().nullable(),
  created_at: UnixSeconds,
  dispatched_at: UnixSeconds.nullable(),
  finished_at: UnixSeconds.nullable().describe('When its result was recorded, or it ended without one (cancelled, expired, or its batch ended first)'),
  response: ResultResponse.nullable(),
  error: ResultError.nullable(),
});
export type QueuedRequestObject = z.infer<typeof QueuedRequestObject>;

export function toQueuedRequestObject(row: QueuedRequestRow): QueuedRequestObject {
  const base = {
    id: row.id,
    object: 'queue.request' as const,
    queue: row.queue,
    custom_id: row.custom_id,
    model: row.model,
    status: row.effective_status,
    batch_id: row.batch_id,
    created_at: toUnixSeconds(row.created_at),
    dispatched_at: toUnixSecondsOrNull(row.dispatched_at),
    finished_at: toUnixSecondsOrNull(row.finished_at),
    response: null,
    error: null,
  };
  if (row.status === 'expired') return { ...base, error: { code: 'model_not_found', message: neverServedMessage(row) } };
  const finished = row.batch_id !== null && row.effective_status !== 'dispatched';
  if (!finished) return base;
  // The same function writes the batch's files: the request answers exactly what its line says.
  const { line } = outputLine(row.batch_id!, row, neverExecutedCode(row.batch_status));
  const { response, error } = JSON.parse(line) as Pick<QueuedRequestObject, 'response' | 'error'>;
  return { ...base, response, error };
}

/** Why a request expired in its queue: its model was never served at its endpoint while its window lasted. */
const neverServedMessage = (row: Pick<QueuedRequestRow, 'model' | 'endpoint'>) =>
  `No live GPU worker served model '${row.model}' at ${row.endpoint} within this request's completion window; it was never dispatched, and no other request waited for it.`;
