-- Files: metadata row plus content split into ordered parts, so no file is ever held whole in memory.
CREATE TABLE files (
  id          text PRIMARY KEY,
  tenant_id   text NOT NULL,
  purpose     text NOT NULL,
  filename    text NOT NULL,
  bytes       bigint NOT NULL,
  status      text NOT NULL DEFAULT 'processed',
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz
);
CREATE INDEX files_tenant_created ON files (tenant_id, created_at DESC, id);

CREATE TABLE file_parts (
  file_id  text NOT NULL REFERENCES files (id) ON DELETE CASCADE,
  part_no  integer NOT NULL,
  data     bytea NOT NULL,
  PRIMARY KEY (file_id, part_no)
);

CREATE TABLE batches (
  id                 text PRIMARY KEY,
  tenant_id          text NOT NULL,
  endpoint           text NOT NULL,
  model              text,
  input_file_id      text NOT NULL,
  completion_window  text NOT NULL,
  status             text NOT NULL,
  output_file_id     text,
  error_file_id      text,
  errors             jsonb,
  metadata           jsonb,
  chunk_count        integer,
  total_requests     integer NOT NULL DEFAULT 0,
  completed_requests integer NOT NULL DEFAULT 0,
  failed_requests    integer NOT NULL DEFAULT 0,
  input_tokens       bigint NOT NULL DEFAULT 0,
  output_tokens      bigint NOT NULL DEFAULT 0,
  created_at         timestamptz NOT NULL DEFAULT now(),
  in_progress_at     timestamptz,
  expires_at         timestamptz NOT NULL,
  finalizing_at      timestamptz,
  completed_at       timestamptz,
  failed_at          timestamptz,
  expired_at         timestamptz,
  cancelling_at      timestamptz,
  cancelled_at       timestamptz
);
CREATE INDEX batches_tenant_created ON batches (tenant_id, created_at DESC, id);

-- The validated request index of a batch, written once during validation, read by chunk activities.
CREATE TABLE batch_requests (
  batch_id   text NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
  line_no    integer NOT NULL,
  chunk_no   integer NOT NULL,
  custom_id  text NOT NULL,
  body       jsonb NOT NULL,
  PRIMARY KEY (batch_id, line_no)
);
CREATE INDEX batch_requests_chunk ON batch_requests (batch_id, chunk_no, line_no);

-- Per-request checkpoints: a row exists once a request has its final outcome. Written with
-- ON CONFLICT DO NOTHING, so a retried chunk never records (or counts) a request twice.
CREATE TABLE batch_results (
  batch_id       text NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
  line_no        integer NOT NULL,
  request_id     text NOT NULL,
  status_code    integer,
  response_body  json,  -- json, not jsonb: the backend's bytes come back as they were sent
  error_code     text,
  error_message  text,
  input_tokens   integer NOT NULL DEFAULT 0,
  output_tokens  integer NOT NULL DEFAULT 0,
  created_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (batch_id, line_no)
);

-- Live GPU workers and the models their backends serve, refreshed by a heartbeat.
CREATE TABLE inference_workers (
  worker_id     text NOT NULL,
  model         text NOT NULL,
  last_seen_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (worker_id, model)
);
