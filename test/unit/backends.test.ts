import { BackendPool } from '../../src/inference/backends';

describe('BackendPool', () => {
  test('spreads work over every backend, least busy first, and never past a backend’s bound', async () => {
    const pool = new BackendPool(['http://a/v1', 'http://b/v1'], 2);
    const leases = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire(), pool.acquire()]);
    expect(leases.map((l) => l.backend.baseUrl).sort()).toEqual(['http://a/v1', 'http://a/v1', 'http://b/v1', 'http://b/v1']);

    // Both full: the next caller waits until a slot frees, and gets that backend.
    let fifth: string | undefined;
    const waiting = pool.acquire().then((l) => (fifth = l.backend.baseUrl));
    await Promise.resolve();
    expect(fifth).toBeUndefined();
    leases.find((l) => l.backend.baseUrl === 'http://a/v1')!.release();
    await waiting;
    expect(fifth).toBe('http://a/v1');
    expect(pool.backends.map((b) => b.slots.active)).toEqual([2, 2]);
  });

  test('a release is counted once, however often it is called', async () => {
    const pool = new BackendPool(['http://a/v1'], 1);
    const lease = await pool.acquire();
    lease.release();
    lease.release();
    expect(pool.backends[0]!.slots.active).toBe(0);
  });
});
