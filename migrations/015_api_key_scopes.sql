-- Issue 32: keys have a scope (src/states/apiKey.ts). Every key created before is a tenant's.
ALTER TABLE api_keys ADD COLUMN scope text NOT NULL DEFAULT 'tenant';
ALTER TABLE api_keys ADD CONSTRAINT api_keys_scope_check CHECK (scope IN ('tenant', 'operator'));
