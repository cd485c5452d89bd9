import net from 'node:net';
import { createPool } from '../../src/db/pool';
import { migrate } from '../../src/db/migrate';
import { testStack } from '../support/stack';

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
});
