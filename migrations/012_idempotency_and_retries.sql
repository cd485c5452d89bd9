-- Idempotency-Key on POST /v1/files and POST /v1/batches: the first call with a key records what it
-- created and a hash of its request; a retry within 24 h gets that object back, a different request
-- with the key a 409. Scoped per tenant; the retention pass deletes keys past their 24 h.
CREATE TABLE idempotency_keys (
  tenant_id     text NOT NULL,
  operation     text NOT NULL,
  key           text NOT NULL,
  request_hash  text NOT NULL,
  resource_id   text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, operation, key)
);
ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_operation_check CHECK (operation IN ('create_file', 'create_batch'));
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- A batch made of another batch's failed lines (POST /v1/batches/{id}/retry) names its parent.
ALTER TABLE batches ADD COLUMN retry_of text REFERENCES batches (id);
CREATE INDEX batches_retry_of ON batches (retry_of, created_at) WHERE retry_of IS NOT NULL;
