import type { RequestHandler } from 'express';
import type { Queryable } from '../db/pool';
import { resolveApiKey } from '../store/apiKeys';
import { ApiError } from './errors';
import { hashApiKey } from './keys';
import { OPEN_MODE_TENANT } from './tenant';

/**
 * Resolves `Authorization: Bearer <key>` to a tenant, from the static API_KEYS or the keys stored by
 * the CLI (looked up on every request, so a revocation is immediate). Keys are compared by digest, so
 * lookup time does not depend on how much of a guess matches. Open single-tenant mode only while no
 * key is configured and none was ever created.
 */
export function authenticate(deps: { staticKeys: ReadonlyMap<string, string>; db: Queryable }): RequestHandler {
  const tenantsByDigest = new Map([...deps.staticKeys].map(([key, tenant]) => [hashApiKey(key), tenant]));
  return async (req, res, next) => {
    const key = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
    const digest = key === undefined ? null : hashApiKey(key);
    const staticTenant = digest === null ? undefined : tenantsByDigest.get(digest);
    if (staticTenant !== undefined) {
      res.locals.tenantId = staticTenant;
      return next();
    }
    const stored = await resolveApiKey(deps.db, digest);
    if (stored.tenantId !== null) {
      res.locals.tenantId = stored.tenantId;
      return next();
    }
    if (tenantsByDigest.size === 0 && !stored.anyKeys) {
      res.locals.tenantId = OPEN_MODE_TENANT;
      return next();
    }
    if (key === undefined) {
      throw new ApiError(401, 'authentication_error', 'missing_api_key', "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.");
    }
    throw new ApiError(401, 'authentication_error', 'invalid_api_key', 'Incorrect API key provided.');
  };
}
