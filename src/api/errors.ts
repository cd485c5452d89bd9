import type { ErrorRequestHandler, RequestHandler } from 'express';
import { logger } from '../logger';

export type ErrorType = 'invalid_request_error' | 'authentication_error' | 'not_found_error' | 'server_error';

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

export const notFound = (what: string, id: string) =>
  new ApiError(404, 'invalid_request_error', 'not_found', `No such ${what}: '${id}'`);

export const errorBody = (err: ApiError) => ({
  error: { message: err.message, type: err.type, param: err.param, code: err.code },
});

export const unknownRoute: RequestHandler = (req, _res, next) => {
  next(new ApiError(404, 'invalid_request_error', 'unknown_url', `Unrecognized request URL (${req.method}: ${req.path}).`));
};

/** Last middleware: every failure leaves as an OpenAI-shaped error; unexpected ones are logged, not leaked. */
export const errorHandler: ErrorRequestHandler = (err: unknown, req, res, _next) => {
  const apiError = toApiError(err);
  if (apiError.status >= 500) logger.error({ err, method: req.method, path: req.path }, 'request failed');
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.status(apiError.status).json(errorBody(apiError));
};

function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const bodyParserType = (err as { type?: string }).type;
  if (bodyParserType === 'entity.parse.failed') {
    return invalidRequest('The request body is not valid JSON.', null, 'invalid_json');
  }
  if (bodyParserType === 'entity.too.large') {
    return new ApiError(413, 'invalid_request_error', 'request_too_large', 'The request body is too large.');
  }
  return new ApiError(500, 'server_error', 'internal_error', 'The server had an error processing your request.');
}
