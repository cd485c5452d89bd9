-- Batch statuses, webhook event types and delivery statuses as src/states defines them
-- (test/unit/states.test.ts keeps these lists equal to the TypeScript ones): a write of anything
-- else fails at once instead of leaving a row no code path knows how to finish.
ALTER TABLE batches ADD CONSTRAINT batches_status_check
  CHECK (status IN ('validating', 'failed', 'in_progress', 'finalizing', 'completed', 'expired', 'cancelling', 'cancelled'));
ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_status_check
  CHECK (status IN ('pending', 'delivered', 'failed'));
ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_event_type_check
  CHECK (event_type IN ('batch.completed', 'batch.failed', 'batch.cancelled', 'batch.expired', 'batch.in_progress'));
