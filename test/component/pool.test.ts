import net from 'node:net';
import { createPool, isDatabaseUnavailable, withTransaction } from '../../src/db/pool';
import { migrate } from '../../src/db/migrate';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';

/**
 * The service's PostgreSQL pool bounds every wait, so an unreachable or stuck server turns into an
 * error its callers retry, never a hung activity. On the stack's real PostgreSQL, and a TCP server
 * that accepts connections and never answers (what a network partition looks like).
 */
describe('createPool timeouts', () => {
  const stack = testStack();

  test('a statement longer than the statement timeout is cancelled by the server', async () => {
    const db = createPool(stack.databaseUrl, 2, { connectMs: 5_000, statementMs: 300 });
    try {
      const started = Date.now();
      await expect(db.query('SELECT pg_sleep(5)')).rejects.toMatchObject({ code: '57014' });
      expect(Date.now() - started).toBeLessThan(4_000);
      // The pool still serves short statements.
      expect((await db.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      // Migrations run on a connection of their own, without the timeout (they have nothing left to apply here).
      await expect(migrate(db)).resolves.toBeUndefined();
    } finally {
      await db.end();
    }
  });

  test('a server that accepts connections and never answers fails the query after the connect timeout', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as net.AddressInfo).port;
    const db = createPool(`postgres://nobody@127.0.0.1:${port}/none`, 2, { connectMs: 500, statementMs: 1_000 });
    try {
      const started = Date.now();
      await expect(db.query('SELECT 1')).rejects.toThrow(/timeout/i);
      expect(Date.now() - started).toBeLessThan(4_000);
    } finally {
      await db.end();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  test('a transaction whose connection is cut between two statements fails as PostgreSQL away, and the process lives on', async () => {
    // Found by the soak: a PostgreSQL restart while a transaction waited between statements (on
    // Temporal) made its client emit an error nobody listened to, and the process exited.
    const db = createPool(stack.databaseUrl, 2);
    const admin = createPool(stack.databaseUrl, 1);
    try {
      const outcome = await withTransaction(db, async (client) => {
        const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        const pid = rows[0]!.pid;
        await admin.query('SELECT pg_terminate_backend($1)', [pid]);
        await waitFor(async () => (await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).rowCount === 0, {
          what: 'the backend to be gone',
        });
        return client.query('SELECT 1');
      }).catch((err: unknown) => err);
      expect(isDatabaseUnavailable(outcome)).toBe(true);
      // The broken client left the pool; the next statement gets a fresh connection.
      expect((await db.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await db.end();
      await admin.end();
    }
  });
});
