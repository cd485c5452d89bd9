import type { Request, Response } from 'express';
import { IDEMPOTENCY_KEY_TTL_SECONDS } from '../states/idempotency';
import { invalidRequest } from './errors';
import type { Refusal } from './operation';

const HEADER = 'Idempotency-Key';
/** Printable ASCII, as the keys clients generate (UUIDs, hashes) are; long enough for any of them. */
const VALID_KEY = /^[\x21-\x7e]{1,255}$/;

/** The request's Idempotency-Key, if it sent one; a malformed one is refused rather than ignored. */
export function idempotencyKeyOf(req: Request): string | undefined {
  const key = req.get(HEADER);
  if (key === undefined) return undefined;
  if (!VALID_KEY.test(key)) throw invalidRequest(`${HEADER} must be 1 to 255 printable ASCII characters without spaces.`, HEADER, 'invalid_idempotency_key');
  return key;
}

/** A retry answered with what the key's first call created: said so in a header, as Stripe does. */
export function markReplayed(res: Response): void {
  res.setHeader('Idempotent-Replayed', 'true');
}

/** A used key sent with another request: refused, with the use case's reason when it has one. */
export const idempotencyKeyReused: Refusal<{ kind: string; message?: string }, unknown> = {
  status: 409,
  code: 'idempotency_key_reused',
  message: (outcome) =>
    outcome.message ?? `This ${HEADER} was used within the last ${IDEMPOTENCY_KEY_TTL_SECONDS / 3600} hours with a different request; use a new key for a new request.`,
  param: () => HEADER,
};
