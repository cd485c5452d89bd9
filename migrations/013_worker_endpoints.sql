-- Issue 13: a vLLM server serves either generation or pooling routes, so a GPU worker announces,
-- with each model, the batch endpoints its backends serve it for; validation accepts a batch only
-- when some live worker serves its (model, endpoint). Rows of workers from before this change
-- (still heartbeating during a rolling upgrade) served the three endpoints of that time.
ALTER TABLE inference_workers
  ADD COLUMN endpoints text[] NOT NULL DEFAULT '{/v1/chat/completions,/v1/completions,/v1/embeddings}';
ALTER TABLE inference_workers ALTER COLUMN endpoints DROP DEFAULT;
