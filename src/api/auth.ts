import type { Request, RequestHandler } from 'express';
import type { Queryable } from '../db/pool';
import { bearerToken, bearerTokenMatches } from '../secrets';
import type { KeyHolder } from '../states/apiKey';
import { resolveApiKey } from '../store/apiKeys';
import { ApiError } from './errors';
import { hashApiKey } from './apiKeys';
import { OPEN_MODE_TENANT } from './tenant';

/** Who sent a request: the holder of a valid key, if any; whether it sent a key at all; whether the API is open. */
export type Caller = { key: KeyHolder | null; sentKey: boolean; openMode: boolean };

export type CallerResolver = (req: Request) => Promise<Caller>;

/**
 * Resolves `Authorization: Bearer <key>` against the static API_KEYS and OPERATOR_API_KEYS, then the
 * keys stored by the CLI (looked up on every request, so a revocation is immediate). Keys are
 * compared by digest, so lookup time does not depend on how much of a guess matches. Open
 * single-tenant mode only while no key is configured and none was ever created.
 */
export function callerResolver(deps: { staticKeys: ReadonlyMap<string, KeyHolder>; db: Queryable }): CallerResolver {
  const holdersByDigest = new Map([...deps.staticKeys].map(([key, holder]) => [hashApiKey(key), holder]));
  return async (req) => {
    const key = bearerToken(req.headers.authorization);
    const digest = key === undefined ? null : hashApiKey(key);
    const staticHolder = digest === null ? undefined : holdersByDigest.get(digest);
    if (staticHolder !== undefined) return { key: staticHolder, sentKey: true, openMode: false };
    const stored = await resolveApiKey(deps.db, digest);
    return { key: stored.key, sentKey: key !== undefined, openMode: holdersByDigest.size === 0 && !stored.anyKeys };
  };
}

/** The OpenAI API: any valid key acts for its tenant; in open mode every request acts for the one tenant. */
export function authenticate(resolve: CallerResolver): RequestHandler {
  return async (req, res, next) => {
    const caller = await resolve(req);
    if (caller.key) res.locals.tenantId = caller.key.tenantId;
    else if (caller.openMode) res.locals.tenantId = OPEN_MODE_TENANT;
    else throw unauthenticated(caller);
    next();
  };
}

/**
 * Endpoints about the service rather than a tenant (the fleet's details, cross-tenant reports):
 * operator keys only, or `acceptToken` (METRICS_BEARER_TOKEN, for Prometheus). Open mode opens
 * nothing here: it has no keys, so no operators. A valid key without the scope is a 403.
 */
export function requireOperator(resolve: CallerResolver, acceptToken?: string): RequestHandler {
  return async (req, _res, next) => {
    if (acceptToken !== undefined && bearerTokenMatches(req.headers.authorization, acceptToken)) return next();
    const caller = await resolve(req);
    if (caller.key?.scope === 'operator') return next();
    if (caller.key) throw operatorScopeRequired();
    throw unauthenticated(caller);
  };
}

/** Whether the request comes from an operator key: what optional details (/readyz) are shown for. No key, no lookup. */
export async function isOperator(resolve: CallerResolver, req: Request): Promise<boolean> {
  if (bearerToken(req.headers.authorization) === undefined) return false;
  return (await resolve(req)).key?.scope === 'operator';
}

export const operatorScopeRequired = () =>
  new ApiError(403, 'permission_error', 'operator_scope_required', 'This endpoint needs an operator key (`vbs keys create --operator`, or OPERATOR_API_KEYS).');

function unauthenticated(caller: Caller): ApiError {
  if (!caller.sentKey) {
    return new ApiError(401, 'authentication_error', 'missing_api_key', "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.");
  }
  return new ApiError(401, 'authentication_error', 'invalid_api_key', 'Incorrect API key provided.');
}
