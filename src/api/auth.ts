import crypto from 'node:crypto';
import type { RequestHandler } from 'express';
import { ApiError } from './errors';
import { OPEN_MODE_TENANT } from './tenant';

const digest = (key: string) => crypto.createHash('sha256').update(key).digest('hex');

/**
 * Resolves `Authorization: Bearer <key>` to a tenant. Keys are compared by digest, so lookup time
 * does not depend on how much of a guess matches. No keys configured → open single-tenant mode.
 */
export function authenticate(apiKeys: ReadonlyMap<string, string>): RequestHandler {
  const tenantsByDigest = new Map([...apiKeys].map(([key, tenant]) => [digest(key), tenant]));
  return (req, res, next) => {
    if (tenantsByDigest.size === 0) {
      res.locals.tenantId = OPEN_MODE_TENANT;
      return next();
    }
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!match) {
      return next(new ApiError(401, 'authentication_error', 'missing_api_key', "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'."));
    }
    const tenant = tenantsByDigest.get(digest(match[1]!));
    if (!tenant) return next(new ApiError(401, 'authentication_error', 'invalid_api_key', 'Incorrect API key provided.'));
    res.locals.tenantId = tenant;
    next();
  };
}
