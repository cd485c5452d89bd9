import { toBatchObject, type BatchObject } from '../batches/object';
import type { BatchStatus } from '../states/batch';
import type { BatchRow } from '../store/batches';
import { EVENT_STATUS, type WebhookEventType } from '../states/webhook';
import { toUnixSeconds } from '../unixTime';

export type WebhookEvent = {
  id: string;
  object: 'event';
  type: WebhookEventType;
  /** Same as `type`: the field the seed FastAPI guide's receiver reads. */
  event: WebhookEventType;
  created_at: number;
  batch_id: string;
  status: BatchStatus;
  output_file_id: string | null;
  error_file_id: string | null;
  request_counts: BatchObject['request_counts'];
  data: BatchObject;
};

/**
 * The event body. `status` is the one the event announces; `data` is the batch as it was when the
 * event was prepared, which for `batch.in_progress` may already be further along.
 */
export function buildWebhookEvent(batch: BatchRow, type: WebhookEventType, event: { id: string; createdAt: Date }): WebhookEvent {
  const data = toBatchObject(batch);
  return {
    id: event.id,
    object: 'event',
    type,
    event: type,
    created_at: toUnixSeconds(event.createdAt),
    batch_id: batch.id,
    status: EVENT_STATUS[type],
    output_file_id: data.output_file_id,
    error_file_id: data.error_file_id,
    request_counts: data.request_counts,
    data,
  };
}
