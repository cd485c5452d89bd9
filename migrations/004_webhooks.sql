-- The batch's webhook as given on create: {url, secret?, events?}. The secret signs deliveries and is
-- never returned by the API.
ALTER TABLE batches ADD COLUMN webhook jsonb;

-- One delivery per batch and event: the unique key makes a retried or replayed prepare a no-op.
CREATE TABLE webhook_deliveries (
  id             text PRIMARY KEY,
  batch_id       text NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
  tenant_id      text NOT NULL,
  event_type     text NOT NULL,
  event_id       text NOT NULL,
  url            text NOT NULL,
  payload        text NOT NULL,  -- text, not json: every attempt sends and signs these exact bytes
  status         text NOT NULL DEFAULT 'pending',  -- pending | delivered | failed
  attempt_count  integer NOT NULL DEFAULT 0,
  replay_count   integer NOT NULL DEFAULT 0,
  created_at     timestamptz NOT NULL DEFAULT now(),
  delivered_at   timestamptz,
  last_error     text,
  UNIQUE (batch_id, event_type)
);

CREATE TABLE webhook_attempts (
  delivery_id  text NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
  attempt_no   integer NOT NULL,
  started_at   timestamptz NOT NULL,
  duration_ms  integer NOT NULL,
  status_code  integer,
  error        text,
  PRIMARY KEY (delivery_id, attempt_no)
);
