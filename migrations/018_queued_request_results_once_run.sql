-- The head start: a batch's first chunks run, and store their results, while the batch is still
-- validating; a batch that then ends without running (failed, cancelled, expired) drops them. Until
-- it has run, as the Batch object and /results show nothing of them (`hasRun`, src/states/batch.ts),
-- a queued request reads no result from them either: it stays `dispatched`, never `completed` and
-- then back. As in migration 014 otherwise.
CREATE OR REPLACE VIEW queued_request_states AS
SELECT q.id, q.seq, q.tenant_id, q.queue, q.custom_id, q.model, q.endpoint, q.body, q.status, q.batch_id, q.line_no,
       q.created_at, q.dispatched_at, q.cancelled_at, q.expires_at, q.expired_at,
       b.status AS batch_status,
       x.request_id, x.status_code, x.response_body, x.error_code, x.error_message,
       coalesce(x.created_at, q.expired_at, q.cancelled_at,
                CASE WHEN b.status IN ('expired', 'cancelled', 'failed', 'completed')
                     THEN coalesce(b.expired_at, b.cancelled_at, b.failed_at, b.completed_at) END) AS finished_at,
       CASE
         WHEN q.status <> 'dispatched' THEN q.status
         WHEN x.status_code BETWEEN 200 AND 299 THEN 'completed'
         WHEN x.batch_id IS NOT NULL THEN 'failed'
         WHEN b.status IN ('expired', 'cancelled', 'failed') THEN b.status
         WHEN b.status = 'completed' THEN 'failed'
         ELSE 'dispatched'
       END AS effective_status
FROM queued_requests q
LEFT JOIN batches b ON b.id = q.batch_id
LEFT JOIN batch_results x ON x.batch_id = q.batch_id AND x.line_no = q.line_no
  AND (b.in_progress_at IS NOT NULL OR b.status NOT IN ('validating', 'failed', 'cancelled', 'expired'));
