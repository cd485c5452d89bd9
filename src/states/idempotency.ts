/**
 * The creates an `Idempotency-Key` makes safe to retry, defined once: PostgreSQL checks the same list
 * (`idempotency_keys_operation_check`, migration 012; test/unit/states.test.ts keeps them equal).
 */
export const IDEMPOTENT_OPERATIONS = ['create_file', 'create_batch'] as const;
export type IdempotentOperation = (typeof IDEMPOTENT_OPERATIONS)[number];

/** How long a key holds what it created: OpenAI's and Stripe's 24 hours. */
export const IDEMPOTENCY_KEY_TTL_SECONDS = 86_400;
