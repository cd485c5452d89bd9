-- The reconciler looks at every batch not yet in a terminal status (TERMINAL_STATUSES in
-- src/states/batch.ts), every few minutes: those stay few while finished batches pile up.
CREATE INDEX batches_unfinished ON batches (id) WHERE status NOT IN ('completed', 'failed', 'expired', 'cancelled');
