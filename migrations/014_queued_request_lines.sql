-- Issue 24: a queued request is a line of a future batch, fixed at enqueue. It keeps the endpoint
-- of its moment (a later change of the queue's endpoint concerns only later requests: dispatch cuts
-- one batch per (model, endpoint)), and the end of its completion window, after which a request
-- whose model no worker served ends `expired` on its own, with `expired_at`.
ALTER TABLE queued_requests ADD COLUMN endpoint text, ADD COLUMN expires_at timestamptz, ADD COLUMN expired_at timestamptz;
UPDATE queued_requests r
SET endpoint = coalesce((SELECT b.endpoint FROM batches b WHERE b.id = r.batch_id),
                        (SELECT q.settings->>'endpoint' FROM queues q WHERE q.tenant_id = r.tenant_id AND q.name = r.queue),
                        '/v1/chat/completions'),
    -- Requests queued before this change: the default window.
    expires_at = r.created_at + interval '24 hours';
ALTER TABLE queued_requests ALTER COLUMN endpoint SET NOT NULL, ALTER COLUMN expires_at SET NOT NULL;
ALTER TABLE queued_requests DROP CONSTRAINT queued_requests_status_check;
ALTER TABLE queued_requests ADD CONSTRAINT queued_requests_status_check CHECK (status IN ('queued', 'dispatched', 'cancelled', 'expired'));
ALTER TABLE queued_requests ADD CONSTRAINT queued_requests_expired_check CHECK ((status = 'expired') = (expired_at IS NOT NULL));

-- A queue's request_kwargs as the client wrote them: text, since jsonb would reorder keys, and
-- jsonb_strip_nulls (which resets other settings to their defaults) would strip their nested nulls.
ALTER TABLE queues ADD COLUMN request_kwargs text;
UPDATE queues SET request_kwargs = (settings->'request_kwargs')::text, settings = settings - 'request_kwargs' WHERE settings ? 'request_kwargs';

-- As in migration 008, and: a request finished when its result was recorded, or, without one, when
-- it expired or was cancelled while queued, or when its batch ended without running it.
DROP VIEW queued_request_states;
CREATE VIEW queued_request_states AS
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
LEFT JOIN batch_results x ON x.batch_id = q.batch_id AND x.line_no = q.line_no;
