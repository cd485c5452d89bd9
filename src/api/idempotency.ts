import type { Request, Response } from 'express';
import { IDEMPOTENCY_KEY_TTL_SECONDS } from '../states/idempotency';
import { ApiError, invalidRequest } from './errors';

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

export const idempotencyKeyReused = (
  message = `This ${HEADER} was used within the last ${IDEMPOTENCY_KEY_TTL_SECONDS / 3600} hours with a different request; use a new key for a new request.`,
) => new ApiError(409, 'invalid_request_error', 'idempotency_key_reused', message, HEADER);
