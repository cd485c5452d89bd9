import type { ErrorRequestHandler, RequestHandler } from 'express';
import { SettingsNotPublished } from '../config/published';
import { isDatabaseUnavailable } from '../db/pool';
import { logger } from '../logger';
import { isTemporalUnavailable } from '../temporal/availability';
import { isStorableText } from '../text';

export const ERROR_TYPES = ['invalid_request_error', 'authentication_error', 'permission_error', 'not_found_error', 'rate_limit_error', 'server_error'] as const;
export type ErrorType = (typeof ERROR_TYPES)[number];

/** An error a client should see, rendered in OpenAI's shape: {"error":{"message","type","param","code"}}. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: ErrorType,
    readonly code: string | null,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

export const invalidRequest = (message: string, param: string | null = null, code: string | null = 'invalid_request') =>
  new ApiError(400, 'invalid_request_error', code, message, param);

const unsupportedContentType = (message: string, param: string | null = null) => new ApiError(415, 'invalid_request_error', 'unsupported_content_type', message, param);

export const errorBody = (err: ApiError) => ({
  error: { message: err.message, type: err.type, param: err.param, code: err.code },
});

export const unknownRoute: RequestHandler = (req, _res, next) => {
  next(new ApiError(404, 'invalid_request_error', 'unknown_url', `Unrecognized request URL (${req.method}: ${req.path}).`));
};

/**
 * No object's id holds a NUL (no id can: PostgreSQL text cannot), so a path with one names nothing:
 * 404 here instead of a query the database rejects. Malformed percent-encodings (the only way to
 * spell an unpaired surrogate) are left to Express, which answers 400.
 */
export const refuseUnstorablePath: RequestHandler = (req, _res, next) => {
  let path: string;
  try {
    path = decodeURIComponent(req.path);
  } catch {
    return next();
  }
  if (isStorableText(path)) return next();
  next(new ApiError(404, 'invalid_request_error', 'not_found', `No such object: '${path.replaceAll('\u0000', '\\u0000')}'`));
};

/**
 * JSON endpoints: a body in any other format is refused rather than silently ignored, and a JSON
 * body must be an object (the parser accepts any JSON value so that `null` or `[1]` is told what
 * is wrong with it instead of "not valid JSON"). No body at all is an empty object.
 */
export const requireJsonObjectBody: RequestHandler = (req, _res, next) => {
  if (req.is('application/json') === false) {
    return next(unsupportedContentType(`Expected a JSON body ('Content-Type: application/json'), got '${req.headers['content-type'] ?? 'none'}'.`));
  }
  if (req.body !== undefined && (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body))) {
    return next(invalidRequest('The request body must be a JSON object.'));
  }
  next();
};

/** What a client is told to wait before retrying a 503: about how long a dependency's restart takes to notice. */
const RETRY_AFTER_SECONDS = 5;

/** A dependency that is away is said once per this interval, not once per request that finds it away. */
const UNAVAILABLE_LOG_INTERVAL_MS = 30_000;
const unavailableLoggedAt = new Map<string, number>();
/** Codes of a 503 that something away causes: said as a warning, not logged as a failure of ours. */
const UNAVAILABLE = new Set(['database_unavailable', 'temporal_unavailable', 'orchestrator_unavailable']);

/** Last middleware: every failure leaves as an OpenAI-shaped error; unexpected ones are logged, not leaked. */
export const errorHandler: ErrorRequestHandler = (err: unknown, req, res, _next) => {
  const apiError = toApiError(err);
  if (apiError.code !== null && UNAVAILABLE.has(apiError.code)) {
    const last = unavailableLoggedAt.get(apiError.code) ?? 0;
    if (Date.now() - last >= UNAVAILABLE_LOG_INTERVAL_MS) {
      unavailableLoggedAt.set(apiError.code, Date.now());
      logger.warn({ code: apiError.code, reason: (err as Error).message, method: req.method, path: req.path }, 'a dependency is unavailable: answering 503');
    }
  } else if (apiError.status >= 500) logger.error({ err, method: req.method, path: req.path }, 'request failed');
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (apiError.status === 503) res.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
  res.status(apiError.status).json(errorBody(apiError));
};

/** Errors raised by Express and body-parser carry an HTTP status and a `type`; map the ones clients cause. */
function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const { type, status, expose, message } = err as { type?: string; status?: number; expose?: boolean; message?: string };
  if (type === 'entity.parse.failed') return invalidRequest('The request body is not valid JSON.', null, 'invalid_json');
  if (type === 'entity.too.large') {
    return new ApiError(413, 'invalid_request_error', 'request_too_large', 'The request body is too large.');
  }
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') return unsupportedContentType(message ?? 'Unsupported body encoding.');
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new ApiError(status, 'invalid_request_error', 'invalid_request', expose && message ? message : 'Invalid request.');
  }
  // pg-pool's wait for a free connection ran out: the server is saturated, not broken; worth a retry.
  if (message === 'timeout exceeded when trying to connect') {
    return new ApiError(503, 'server_error', 'server_overloaded', 'The server is busy; retry shortly.');
  }
  // A dependency is away (a restart, a failover): nothing was done, and the same call will work once it is back.
  if (isDatabaseUnavailable(err)) return new ApiError(503, 'server_error', 'database_unavailable', 'The database is unavailable; retry shortly.');
  if (isTemporalUnavailable(err)) return new ApiError(503, 'server_error', 'temporal_unavailable', 'The workflow service (Temporal) is unavailable; retry shortly.');
  // The queue defaults and limits are the orchestrator's, published when it starts: none has started on this database yet.
  if (err instanceof SettingsNotPublished) {
    return new ApiError(503, 'server_error', 'orchestrator_unavailable', 'No orchestrator has started yet: queues follow its settings; retry shortly.');
  }
  return new ApiError(500, 'server_error', 'internal_error', 'The server had an error processing your request.');
}
