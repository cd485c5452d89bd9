import http from 'node:http';
import type { Duplex } from 'node:stream';
import type express from 'express';
import type { Settings } from '../config';
import { logger } from '../logger';
import { ApiError, errorBody } from './errors';

/**
 * The API's HTTP server, with limits on slow clients: headers must arrive within
 * HTTP_HEADERS_TIMEOUT_MS, a connection silent for HTTP_IDLE_TIMEOUT_MS is closed (a stalled upload
 * holds nothing for longer), and no request may last beyond HTTP_REQUEST_TIMEOUT_MS.
 */
export function createHttpServer(
  app: express.Express,
  limits: Pick<Settings<'api'>, 'HTTP_HEADERS_TIMEOUT_MS' | 'HTTP_IDLE_TIMEOUT_MS' | 'HTTP_REQUEST_TIMEOUT_MS'>,
): http.Server {
  const server = http.createServer({ headersTimeout: limits.HTTP_HEADERS_TIMEOUT_MS, requestTimeout: limits.HTTP_REQUEST_TIMEOUT_MS }, app);
  server.setTimeout(limits.HTTP_IDLE_TIMEOUT_MS);
  server.on('clientError', answerClientError);
  return server;
}

/**
 * Requests Node refuses before they reach the app (oversized headers, malformed HTTP, timeouts) get
 * an OpenAI-shaped answer too, instead of Node's empty one.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, code, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'request_header_fields_too_large', 'The request headers are too large.']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'HPE_HEADERS_TIMEOUT'
        ? [408, 'request_timeout', 'The request took too long to arrive.']
        : [400, 'invalid_http', 'The request is not valid HTTP.'];
  logger.debug({ err: err.message, code: err.code }, 'refused a malformed HTTP request');
  const body = JSON.stringify(errorBody(new ApiError(status, 'invalid_request_error', code, message)));
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
