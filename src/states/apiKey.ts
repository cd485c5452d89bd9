/**
 * What an API key may do, defined once (PostgreSQL checks the same list, `api_keys_scope_check`,
 * migration 015; test/unit/states.test.ts keeps them equal). A leaf: it imports nothing.
 *
 * A `tenant` key acts for its tenant on the OpenAI API. An `operator` key does that too, and is also
 * let into what concerns the service rather than one tenant: the details of /readyz (backends,
 * models, depths), /metrics on the API's port, and cross-tenant reports.
 */
export const KEY_SCOPES = ['tenant', 'operator'] as const;
export type KeyScope = (typeof KEY_SCOPES)[number];

/** Whom a key acts for, and what it may do. */
export type KeyHolder = { tenantId: string; scope: KeyScope };

/** The tenant an operator key acts for when it names none (a bare OPERATOR_API_KEYS entry, `vbs keys create --operator`). */
export const OPERATOR_DEFAULT_TENANT = 'operator';
