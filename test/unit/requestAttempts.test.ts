import { backoffMs, parseRetryAfter } from '../../src/inference/requestAttempts';
import { Semaphore } from '../../src/inference/semaphore';

const policy = { maxAttempts: 5, initialDelayMs: 100, maxDelayMs: 1000 };

describe("the backoff between a request's attempts", () => {
  test('grow exponentially with jitter in the upper half, capped', () => {
    expect(backoffMs(policy, 1, undefined, () => 0)).toBe(50);
    expect(backoffMs(policy, 1, undefined, () => 1)).toBe(100);
    expect(backoffMs(policy, 3, undefined, () => 1)).toBe(400);
    expect(backoffMs(policy, 10, undefined, () => 1)).toBe(1000);
  });

  test('never undercut Retry-After', () => {
    expect(backoffMs(policy, 1, 5000, () => 0.5)).toBe(5000);
  });

  test('Retry-After parses seconds and HTTP dates', () => {
    expect(parseRetryAfter('2')).toBe(2000);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:03 GMT', now)).toBe(3000);
  });
});

describe('Semaphore', () => {
  test('admits up to capacity and serves waiters in order', async () => {
    const slots = new Semaphore(2);
    await slots.acquire();
    await slots.acquire();
    const order: number[] = [];
    const third = slots.acquire().then(() => order.push(3));
    const fourth = slots.acquire().then(() => order.push(4));
    expect(slots.waiting).toBe(2);
    slots.release();
    await third;
    slots.release();
    await fourth;
    expect(order).toEqual([3, 4]);
    expect(slots.active).toBe(2);
  });

  test('an aborted waiter leaves the queue', async () => {
    const slots = new Semaphore(1);
    await slots.acquire();
    const controller = new AbortController();
    const waiting = slots.acquire(controller.signal);
    controller.abort(new Error('gone'));
    await expect(waiting).rejects.toThrow('gone');
    expect(slots.waiting).toBe(0);
  });

  test('a moved capacity admits waiters at once when raised, and takes effect as slots return when lowered', async () => {
    const slots = new Semaphore(1);
    await slots.acquire();
    const second = slots.acquire();
    slots.setCapacity(2);
    await second;
    expect(slots.active).toBe(2);

    slots.setCapacity(1);
    const third = slots.acquire();
    let admitted = false;
    void third.then(() => (admitted = true));
    slots.release(); // 2 in use over a capacity of 1: the slot is retired, not handed on
    await Promise.resolve();
    expect(admitted).toBe(false);
    expect(slots.active).toBe(1);
    slots.release();
    await third;
    expect(slots.active).toBe(1);
  });

  test('waiters are served by priority, then in turns across keys, first-come within a key', async () => {
    const slots = new Semaphore(1);
    await slots.acquire();
    const order: string[] = [];
    const wait = (name: string, priority: number, key: string) => slots.acquire(undefined, { priority, key }).then(() => order.push(name));
    const waiters = [
      wait('big-1', 3, 'big'),
      wait('big-2', 3, 'big'),
      wait('big-3', 3, 'big'),
      wait('small-1', 3, 'small'),
      wait('urgent', 1, 'other'),
      wait('low', 5, 'small'),
    ];
    for (let i = 0; i < waiters.length; i++) {
      slots.release();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(waiters);
    expect(order).toEqual(['urgent', 'big-1', 'small-1', 'big-2', 'big-3', 'low']);
  });
});
