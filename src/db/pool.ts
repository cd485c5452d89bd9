import pg from 'pg';
import { logger } from '../logger';

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
export function createPool(connectionString: string, max = 10, timeouts: DbTimeouts = DEFAULT_DB_TIMEOUTS): Db {
  const pool = new pg.Pool({
    connectionString,
    max,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: timeouts.connectMs,
    statement_timeout: timeouts.statementMs,
    query_timeout: timeouts.statementMs + 5_000,
    keepAlive: true,
  });
  // An idle client losing its connection (server restart, pg_terminate_backend) must not crash the process.
  pool.on('error', (err) => logger.warn({ err: err.message }, 'idle postgres client error'));
  return pool;
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
