import type { BatchRow } from '../store/batches';

const seconds = (date: Date | null) => (date === null ? null : Math.floor(date.getTime() / 1000));

/** The Batch object exactly as OpenAI documents it. */
export function toBatchObject(row: BatchRow) {
  return {
    id: row.id,
    object: 'batch' as const,
    endpoint: row.endpoint,
    model: row.model,
    errors: row.errors && row.errors.length > 0 ? { object: 'list' as const, data: row.errors } : null,
    input_file_id: row.input_file_id,
    completion_window: row.completion_window,
    status: row.status,
    output_file_id: row.output_file_id,
    error_file_id: row.error_file_id,
    created_at: seconds(row.created_at)!,
    in_progress_at: seconds(row.in_progress_at),
    expires_at: seconds(row.expires_at),
    finalizing_at: seconds(row.finalizing_at),
    completed_at: seconds(row.completed_at),
    failed_at: seconds(row.failed_at),
    expired_at: seconds(row.expired_at),
    cancelling_at: seconds(row.cancelling_at),
    cancelled_at: seconds(row.cancelled_at),
    request_counts: {
      total: row.total_requests,
      completed: row.completed_requests,
      failed: row.failed_requests,
    },
    usage: {
      input_tokens: row.input_tokens,
      output_tokens: row.output_tokens,
      total_tokens: row.input_tokens + row.output_tokens,
    },
    metadata: row.metadata,
  };
}
export type BatchObject = ReturnType<typeof toBatchObject>;
