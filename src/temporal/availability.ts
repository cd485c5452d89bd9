import { isGrpcServiceError, ServiceError } from '@temporalio/client';
import { untilAvailable } from '../transientFailures';

/** gRPC status codes (grpc/status.proto) of a call that found no server, or none that answered in time. */
const UNAVAILABLE = 14;
const DEADLINE_EXCEEDED = 4;

/**
 * The Temporal server is away rather than refusing what was asked: a gRPC call that found no server
 * or none that answered in time, after the client's own retries; a client or worker connection that
 * could not be made (the worker's native bridge says so with a TransportError). Waited out and
 * retried, answered 503 by the API.
 */
export function isTemporalUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'TransportError') return true;
  const grpc = err instanceof ServiceError && isGrpcServiceError(err.cause) ? err.cause : isGrpcServiceError(err) ? err : undefined;
  if (grpc) return [UNAVAILABLE, DEADLINE_EXCEEDED].includes(grpc.code);
  // A client connection that found no server by its deadline: grpc-js's own words, or the client's.
  return err.message === 'Failed to connect before the deadline' || (err instanceof ServiceError && err.message === 'Failed to connect to Temporal server');
}

/** Runs `work` until the Temporal server is there for it: a start-up step waits out an outage instead of failing. */
export const untilTemporalAvailable = <T>(work: () => Promise<T>, signal?: AbortSignal) => untilAvailable('Temporal', work, isTemporalUnavailable, signal);
