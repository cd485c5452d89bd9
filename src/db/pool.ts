import pg from 'pg';
import { logger } from '../logger';
import { untilAvailable } from '../transientFailures';

// int8 (counts, sums) fits comfortably in a JS number for everything this service stores.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export type Db = pg.Pool;
export type DbClient = pg.PoolClient;
/** Anything that can run a query: the pool itself or a client inside a transaction. */
export type Queryable = Pick<pg.Pool, 'query'>;

export type DbTimeouts = { connectMs: number; statementMs: number };

/** For tools and tests; the service takes its timeouts from its configuration. */
export const DEFAULT_DB_TIMEOUTS: DbTimeouts = { connectMs: 10_000, statementMs: 60_000 };

/**
 * A pool whose every wait is bounded, so a PostgreSQL restart, failover or network partition turns
 * into errors the callers retry rather than hung activities: `connectMs` bounds the wait for a
 * connection (a free one when all `max` are busy, or a new one), `statementMs` each statement on the
 * server (lock waits included), with the client giving up a little later if the server never
 * answers; TCP keep-alive finds connections a failover left dead.
 */
export function createPool(connectionString: string, max = 10, timeouts: DbTimeouts = DEFAULT_DB_TIMEOUTS, warm = 0): Db {
  const pool = new pg.Pool({
    connectionString,
    max,
    min: Math.min(warm, max),
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: timeouts.connectMs,
    statement_timeout: timeouts.statementMs,
    query_timeout: timeouts.statementMs + 5_000,
    keepAlive: true,
  });
  // A client losing its connection (server restart, pg_terminate_backend) must not crash the process.
  // The pool hears that of its idle clients only; a client checked out (a transaction between two
  // statements, waiting on Temporal) emits it on itself, with no listener unless it has this one:
  // its next statement then fails as PostgreSQL being away, and the pool drops it on release.
  pool.on('error', (err) => logger.warn({ err: err.message }, 'idle postgres client error'));
  pool.on('connect', (client) => client.on('error', (err) => logger.warn({ err: err.message }, 'postgres client lost its connection')));
  openConnections(pool, Math.min(warm, max));
  return pool;
}

/**
 * Opens `count` connections at once and leaves them idle in the pool, which keeps its `min` open
 * however long they idle: the first statements of a burst (a batch's first chunks after a quiet
 * hour) then find a connection ready instead of waiting tens to hundreds of milliseconds for a new
 * one (TCP, authentication, a backend process). One that fails is opened on demand later, as usual.
 */
function openConnections(pool: Db, count: number): void {
  const opening = Array.from({ length: count }, () => pool.connect());
  void Promise.allSettled(opening).then((outcomes) => {
    for (const outcome of outcomes) if (outcome.status === 'fulfilled') outcome.value.release();
  });
}

/** Runs `fn` in a transaction on one client; rolls back on any error. */
export async function withTransaction<T>(db: Db, fn: (client: DbClient) => Promise<T>): Promise<T> {
  const client = await db.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/**
 * PostgreSQL refused the data itself (SQLSTATE class 22, data exception, e.g. an untranslatable
 * character; class 54, a program limit): the same statement fails the same way on every retry.
 */
export function isDataRefusal(err: unknown): err is pg.DatabaseError {
  return err instanceof pg.DatabaseError && typeof err.code === 'string' && (err.code.startsWith('22') || err.code.startsWith('54'));
}

/** Socket errors of a server that is down, restarting or out of reach. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

/**
 * PostgreSQL is away rather than refusing what was asked: no connection (refused, reset, not
 * resolvable, timed out), a connection cut under a statement, or the server shutting down or
 * starting up (SQLSTATE class 08, connection exception; 57P01–57P03, shutdown and cannot connect
 * now; 53300, too many connections). Waited out and retried, never turned into a verdict.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (err instanceof pg.DatabaseError) return code.startsWith('08') || ['57P01', '57P02', '57P03', '53300'].includes(code);
    if (UNREACHABLE_CODES.has(code)) return true;
  }
  // node-postgres says these in words only: a dropped connection, a connect or read that timed out.
  return /^Connection terminated|^timeout exceeded when trying to connect|^Query read timeout|^Client has encountered a connection error/.test(err.message);
}

/** Runs `work` until PostgreSQL is there for it: a start-up step waits out an outage instead of failing. */
export const untilDatabaseAvailable = <T>(work: () => Promise<T>, signal?: AbortSignal) => untilAvailable('PostgreSQL', work, isDatabaseUnavailable, signal);
