-- API keys created with `npm run keys`: only the SHA-256 of a key is stored, never the key itself.
-- Revoked keys stay (revoked_at set) so that revoking the last key never reopens the API.
CREATE TABLE api_keys (
  id          text PRIMARY KEY,
  tenant_id   text NOT NULL,
  key_hash    text NOT NULL UNIQUE,
  key_prefix  text NOT NULL,
  name        text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);

-- A deleted file keeps its row (content is dropped) so that a list cursor pointing at it still
-- marks a position: `for await (f of files.list()) files.delete(f.id)` walks every page.
ALTER TABLE files ADD COLUMN deleted_at timestamptz;
