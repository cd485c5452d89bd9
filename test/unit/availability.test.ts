import { ServiceError } from '@temporalio/client';
import pg from 'pg';
import { isDatabaseUnavailable } from '../../src/db/pool';
import { isTemporalUnavailable } from '../../src/temporal/availability';

/** A gRPC error as @grpc/grpc-js raises it: an Error with a numeric `code`, `details` and `metadata`. */
const grpcError = (code: number) => Object.assign(new Error(`${code} grpc`), { code, details: 'grpc', metadata: {} });
const socketError = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code });
const databaseError = (code: string) => Object.assign(new pg.DatabaseError('refused', 1, 'error'), { code });

describe('isDatabaseUnavailable: PostgreSQL away (waited out, 503) rather than refusing what was asked', () => {
  test.each([
    ['connection refused', socketError('ECONNREFUSED')],
    ['connection reset', socketError('ECONNRESET')],
    ['host not resolvable (yet)', socketError('ENOTFOUND')],
    ['server shutting down (57P01)', databaseError('57P01')],
    ['server starting up (57P03)', databaseError('57P03')],
    ['connection exception (08006)', databaseError('08006')],
    ['too many connections (53300)', databaseError('53300')],
    ['a connection cut under a statement', new Error('Connection terminated unexpectedly')],
    ["the pool's connect timing out", new Error('timeout exceeded when trying to connect')],
  ])('%s is an outage', (_what, err) => expect(isDatabaseUnavailable(err)).toBe(true));

  test.each([
    ['a unique violation (23505)', databaseError('23505')],
    ['a data exception (22P02)', databaseError('22P02')],
    ['a failed authentication (28P01)', databaseError('28P01')],
    ['a bug', new TypeError('x is undefined')],
    ['not an error', 'ECONNREFUSED'],
  ])('%s is not', (_what, err) => expect(isDatabaseUnavailable(err)).toBe(false));
});

describe('isTemporalUnavailable: the Temporal server away rather than refusing what was asked', () => {
  test.each([
    ['UNAVAILABLE from a call', grpcError(14)],
    ['DEADLINE_EXCEEDED from a call', grpcError(4)],
    ['UNAVAILABLE wrapped by the client', new ServiceError('Failed to start Workflow', { cause: grpcError(14) })],
    ["the client's connect finding no server", new Error('Failed to connect before the deadline')],
    ["the worker's native connection failing", Object.assign(new Error('transport error'), { name: 'TransportError' })],
  ])('%s is an outage', (_what, err) => expect(isTemporalUnavailable(err)).toBe(true));

  test.each([
    ['NOT_FOUND', grpcError(5)],
    ['ALREADY_EXISTS wrapped by the client', new ServiceError('exists', { cause: grpcError(6) })],
    ['INVALID_ARGUMENT', grpcError(3)],
    ['a bug', new TypeError('x is undefined')],
  ])('%s is not', (_what, err) => expect(isTemporalUnavailable(err)).toBe(false));
});
