-- Issue 26: settings one role owns and others need (src/config/published.ts). The owner (the
-- orchestrator: queue defaults, MAX_REQUESTS_PER_BATCH, DEFAULT_MODEL) writes the values it runs with
-- at start; the API reads them here instead of its own environment.
CREATE TABLE published_settings (
  name text PRIMARY KEY,
  -- The parsed value: a number or a string, JSON null for unset.
  value jsonb NOT NULL,
  -- Which process published it (host and pid), for the message that refuses a conflicting one.
  published_by text NOT NULL,
  published_at timestamptz NOT NULL
);
