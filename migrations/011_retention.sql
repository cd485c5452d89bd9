-- Retention (src/retention). OpenAI's `output_expires_after` on batch create: the batch's output and
-- error files expire this many seconds after they appear (files.expires_at, set when they do).
ALTER TABLE batches ADD COLUMN output_expires_after_seconds integer;

-- The batch's per-request copies, dropped by the retention pass once it has ended (its files hold
-- everything): its request bodies (batch_requests, and the bodies of the queued requests it was cut
-- from) at once; its results (batch_results) at once too, except for a batch cut from a queue, whose
-- requests read their results there: then once its result files are deleted or expired, and only
-- their content (response body, error message), so that its requests keep their status.
ALTER TABLE batches ADD COLUMN requests_purged_at timestamptz;
ALTER TABLE batches ADD COLUMN results_purged_at timestamptz;
CREATE INDEX batches_requests_unpurged ON batches (id) WHERE requests_purged_at IS NULL AND status IN ('completed', 'failed', 'expired', 'cancelled');
CREATE INDEX batches_results_unpurged ON batches (id) WHERE results_purged_at IS NULL AND status IN ('completed', 'failed', 'expired', 'cancelled');

-- What the retention pass expires.
CREATE INDEX files_expiring ON files (expires_at) WHERE expires_at IS NOT NULL AND deleted_at IS NULL;
