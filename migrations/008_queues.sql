-- Stream-to-batch. A queue is a tenant's named stream of single requests that a dispatcher workflow
-- cuts into batches. `settings` holds only what was set explicitly: the rest follows the QUEUE_*
-- defaults of the process that reads it. `queued` counts the queue's `queued` requests, kept in the
-- same transactions that change them, so thresholds and caps never count rows; `dispatch_count`
-- numbers its batches, from which their IDs derive (so a retried dispatch finds its own batch).
CREATE TABLE queues (
  tenant_id         text NOT NULL,
  name              text NOT NULL,
  id                text NOT NULL UNIQUE,
  settings          jsonb NOT NULL DEFAULT '{}',
  queued            integer NOT NULL DEFAULT 0 CHECK (queued >= 0),
  dispatch_count    integer NOT NULL DEFAULT 0,
  last_dispatch_at  timestamptz,
  -- When the dispatcher last looked: an enqueue wakes (or restarts) a dispatcher silent for too long.
  checked_at        timestamptz,
  created_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, name)
);

-- The queue a batch was cut from (none for batches created with POST /v1/batches).
ALTER TABLE batches ADD COLUMN queue text;
CREATE INDEX batches_queue ON batches (tenant_id, queue) WHERE queue IS NOT NULL;

-- One row per enqueued request. Stored statuses are only these three; what a dispatched request
-- became (completed, failed, expired, cancelled) is read from its batch and result, never copied.
CREATE TABLE queued_requests (
  id             text PRIMARY KEY,
  seq            bigint GENERATED ALWAYS AS IDENTITY,
  tenant_id      text NOT NULL,
  queue          text NOT NULL,
  custom_id      text NOT NULL,
  model          text NOT NULL,
  body           json NOT NULL,  -- json, not jsonb: kept as the client wrote it, like batch_requests.body
  status         text NOT NULL DEFAULT 'queued',
  batch_id       text,
  line_no        integer,
  created_at     timestamptz NOT NULL DEFAULT now(),
  dispatched_at  timestamptz,
  cancelled_at   timestamptz,
  CHECK ((status = 'dispatched') = (batch_id IS NOT NULL))
);
ALTER TABLE queued_requests ADD CONSTRAINT queued_requests_status_check CHECK (status IN ('queued', 'dispatched', 'cancelled'));
-- What a dispatch claims: the queue's oldest queued requests.
CREATE INDEX queued_requests_pending ON queued_requests (tenant_id, queue, seq) WHERE status = 'queued';
-- custom_ids are unique among a queue's queued requests, so every batch cut from them is valid.
CREATE UNIQUE INDEX queued_requests_queued_custom_id ON queued_requests (tenant_id, queue, custom_id) WHERE status = 'queued';
CREATE INDEX queued_requests_tenant_seq ON queued_requests (tenant_id, seq);
CREATE INDEX queued_requests_batch ON queued_requests (batch_id, line_no) WHERE batch_id IS NOT NULL;

-- A queued request with what it became: `status` as the API reports it (src/states/request.ts lists
-- the values), and its result once its batch recorded one. A request its batch never ran ends as the
-- batch did (expired, cancelled, failed); a result row is final when written, so a request is
-- completed or failed as soon as its own line is, while the rest of its batch still runs.
CREATE VIEW queued_request_states AS
SELECT q.*,
       b.status AS batch_status,
       x.request_id, x.status_code, x.response_body, x.error_code, x.error_message, x.created_at AS finished_at,
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
